/**
 * Cityscapes' 19 training classes, their palette, and the labelIds -> trainIds table (255 = ignore).
 *
 * @module
 */
import type { ClassInfo } from "../engine/model_card.ts";

/** The 19 train classes; ground truth uses 255 for void. */
export const cityscapesClasses: ClassInfo = {
  names: [
    "road",
    "sidewalk",
    "building",
    "wall",
    "fence",
    "pole",
    "traffic light",
    "traffic sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
  ],
  palette: [
    [128, 64, 128],
    [244, 35, 232],
    [70, 70, 70],
    [102, 102, 156],
    [190, 153, 153],
    [153, 153, 153],
    [250, 170, 30],
    [220, 220, 0],
    [107, 142, 35],
    [152, 251, 152],
    [70, 130, 180],
    [220, 20, 60],
    [255, 0, 0],
    [0, 0, 142],
    [0, 0, 70],
    [0, 60, 100],
    [0, 80, 100],
    [0, 0, 230],
    [119, 11, 32],
  ],
  ignore: 255,
};

/** labelIds (0..33) -> trainIds (0..18, 255 ignore), from the official cityscapesScripts labels.py. */
export const labelIdToTrainId: Uint8Array = (() => {
  const table = new Uint8Array(256).fill(255);
  const pairs: [number, number][] = [
    [7, 0],
    [8, 1],
    [11, 2],
    [12, 3],
    [13, 4],
    [17, 5],
    [19, 6],
    [20, 7],
    [21, 8],
    [22, 9],
    [23, 10],
    [24, 11],
    [25, 12],
    [26, 13],
    [27, 14],
    [28, 15],
    [31, 16],
    [32, 17],
    [33, 18],
  ];
  for (const [labelId, trainId] of pairs) table[labelId] = trainId;
  return table;
})();
