/**
 * A store set's ZIP, streamed: yazl writes one entry at a time and asks for the next entry's bytes only when it
 * gets to it, so a render of hundreds of images holds one of them in memory, not all. PNGs are already deflated:
 * they are stored, not compressed again (deliver and supply read either).
 */
import { Readable } from "node:stream";
import { ZipFile } from "yazl";

export interface ArchiveEntry {
	/** The path in the ZIP (store-set-plan.ts: archivePaths). */
	path: string;
	/** The entry's bytes, read when the ZIP reaches it. */
	read(): Promise<Buffer>;
}

export function buildArchive(entries: readonly ArchiveEntry[], mtime = new Date()): Readable {
	const zip = new ZipFile();
	const output = zip.outputStream as Readable;
	// yazl stops on an error without ending its output: whoever reads the output hears of it.
	zip.on("error", (err: Error) => output.destroy(err));
	for (const entry of entries) {
		zip.addReadStreamLazy(entry.path, { mtime, compress: false }, (done) => {
			entry.read().then(
				(bytes) => done(null, Readable.from([bytes])),
				(err: Error) => done(err, undefined as unknown as Readable),
			);
		});
	}
	zip.end();
	return output;
}
