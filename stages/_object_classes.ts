/**
 * What the `boxes` stage knows about the classes it boxes, by name (CamVid's and Cityscapes'): whether the object
 * stands on the ground (so its bottom edge gives a distance and must lie below the horizon), how tall it can
 * plausibly be, how wide for its height, whether it is a thin vertical thing (poles), and how deep a dip in the
 * top outline between two of them must be to split a component in two (two heads, two roofs).
 *
 * @module
 */

/** Shape priors of one class. */
export interface ObjectPrior {
  /** Stands on the ground: distances apply, and a box above the horizon is dropped. */
  ground: boolean;
  /** Plausible real height range (m), checked when the box is not cut by the frame's edge. */
  heightM: [number, number];
  /** Widest plausible box for its height (width / height). */
  maxAspect: number;
  /** Thin vertical structures: boxes keep to the columns of the shaft. */
  thin: boolean;
  /** A dip in the top outline this deep (fraction of the component's height) between two peaks splits it. */
  valley: number;
  /** A step in the bottom outline this deep (fraction of the component's height) splits it: depth order. */
  step: number;
  /** Segmentations break it apart (a bicycle's wheels, frame and rider): touching pieces are one object. */
  fragmented: boolean;
}

const person: ObjectPrior = {
  ground: true,
  heightM: [0.5, 3.0],
  maxAspect: 1,
  thin: false,
  valley: 0.12,
  step: 0.25,
  fragmented: false,
};
const rider: ObjectPrior = {
  ground: true,
  heightM: [0.5, 3.2],
  maxAspect: 2.5,
  thin: false,
  valley: 0.15,
  step: 0.25,
  fragmented: true,
};
const vehicle: ObjectPrior = {
  ground: true,
  heightM: [0.4, 6],
  maxAspect: 5,
  thin: false,
  valley: 0.3,
  step: 0.15,
  fragmented: false,
};
const pole: ObjectPrior = {
  ground: false,
  heightM: [0, Infinity],
  maxAspect: 0.5,
  thin: true,
  valley: 1,
  step: 1,
  fragmented: false,
};
const other: ObjectPrior = {
  ground: false,
  heightM: [0, Infinity],
  maxAspect: Infinity,
  thin: false,
  valley: 1,
  step: 1,
  fragmented: false,
};

const priors: Record<string, ObjectPrior> = {
  pedestrian: person,
  person,
  bicyclist: rider,
  rider,
  bicycle: rider,
  motorcycle: rider,
  car: vehicle,
  truck: vehicle,
  bus: vehicle,
  train: { ...vehicle, maxAspect: 12 },
  pole,
};

/** The priors of a class name (case-insensitive); classes it does not know get no shape checks. */
export function objectPrior(className: string): ObjectPrior {
  return priors[className.toLowerCase()] ?? other;
}
