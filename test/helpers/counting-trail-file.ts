import { nodeTrailFile, type TrailFile } from '../../src/audit/trail-file.js';

/** The real file system as a TrailFile, counting the stats made and the reads (and bytes) read through it. */
export function countingTrailFile() {
  const n = { stats: 0, reads: 0, bytes: 0 };
  const file: TrailFile = {
    stat: (path) => {
      n.stats++;
      return nodeTrailFile.stat(path);
    },
    async open(path) {
      const fh = await nodeTrailFile.open(path);
      return (
        fh && {
          stat: () => fh.stat(),
          async read(position, length) {
            const buf = await fh.read(position, length);
            n.reads++;
            n.bytes += buf.length;
            return buf;
          },
          close: () => fh.close(),
        }
      );
    },
  };
  return { file, n };
}
