/**
 * CamVid's 11 classes in the SegNet layout, with its palette; the synthetic world uses the same set so
 * graphs and palettes serve both domains.
 *
 * @module
 */
import type { ClassInfo } from "../engine/model_card.ts";

/** Class ids 0..10 and their colours; id 11 is void (ignored in training and evaluation). */
export const camvidClasses: ClassInfo = {
  names: [
    "Sky",
    "Building",
    "Pole",
    "Road",
    "Pavement",
    "Tree",
    "SignSymbol",
    "Fence",
    "Car",
    "Pedestrian",
    "Bicyclist",
  ],
  palette: [
    [128, 128, 128],
    [128, 0, 0],
    [192, 192, 128],
    [128, 64, 128],
    [60, 40, 222],
    [128, 128, 0],
    [192, 128, 128],
    [64, 64, 128],
    [64, 0, 128],
    [64, 64, 0],
    [0, 128, 192],
  ],
  ignore: 11,
};
