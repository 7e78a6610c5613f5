// Decoding browser screenshots for the status page test, with pngjs: the screenshot is checked by
// other code than the code that made it.

import { PNG } from 'pngjs';

export interface DecodedPng {
  width: number;
  height: number;
  /** [r, g, b] of the pixel at (x, y). */
  pixel(x: number, y: number): [number, number, number];
}

export function decodePng(png: Buffer): DecodedPng {
  const image = PNG.sync.read(png);
  return {
    width: image.width,
    height: image.height,
    pixel(x, y) {
      const i = (y * image.width + x) * 4;
      return [image.data[i], image.data[i + 1], image.data[i + 2]];
    },
  };
}
