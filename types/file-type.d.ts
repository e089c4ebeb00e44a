/**
 * The part of file-type that services/files/content-type.ts uses. The package ships types, but only behind an
 * ESM `exports` map that this CommonJS project's module resolution doesn't read.
 */
declare module "file-type" {
	export interface FileTypeResult {
		ext: string;
		mime: string;
	}

	export function fileTypeFromBuffer(buffer: Uint8Array | ArrayBuffer): Promise<FileTypeResult | undefined>;
}
