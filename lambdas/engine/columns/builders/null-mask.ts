/**
 * The NULL mask of a FlatColumn being built: one byte per row, 1 for NULL, allocated at the first NULL of a
 * row group (most columns never need one).
 */
export class NullMask {
  private mask: Uint8Array | null = null;

  /** Marks `row` (0-based within the row group) NULL. */
  set(row: number): void {
    let mask = this.mask;
    if (!mask || row >= mask.length) {
      const grown = new Uint8Array(Math.max(1024, row * 2));
      if (mask) grown.set(mask);
      mask = this.mask = grown;
    }
    mask[row] = 1;
  }

  /** The mask of a row group of `rows` rows (null when none was NULL); starts the next one empty. */
  take(rows: number): Uint8Array | null {
    const mask = this.mask;
    this.mask = null;
    if (!mask) return null;
    // Rows after the last NULL may lie beyond the mask's length: those are values (0).
    if (mask.length >= rows) return mask.subarray(0, rows);
    const full = new Uint8Array(rows);
    full.set(mask);
    return full;
  }
}
