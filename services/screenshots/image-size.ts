/**
 * Image sizes read from the bytes' headers: PNG (IHDR), JPEG (the first start-of-frame marker) and WebP (VP8,
 * VP8L and VP8X chunks). The renderer reports the size of what it stored; tests check downloads with it.
 */
export interface ImageSize {
	format: "png" | "jpeg" | "webp";
	width: number;
	height: number;
}

export function imageSize(bytes: Buffer): ImageSize {
	if (bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) && bytes.toString("ascii", 12, 16) === "IHDR") {
		return { format: "png", width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
	}
	if (bytes[0] === 0xff && bytes[1] === 0xd8) {
		for (let offset = 2; offset + 9 < bytes.length; ) {
			if (bytes[offset] !== 0xff) throw new Error(`Not a JPEG marker at ${offset}`);
			const marker = bytes[offset + 1];
			const length = bytes.readUInt16BE(offset + 2);
			// SOF0–SOF15, except DHT (C4), JPG (C8) and DAC (CC).
			if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
				return { format: "jpeg", height: bytes.readUInt16BE(offset + 5), width: bytes.readUInt16BE(offset + 7) };
			}
			offset += 2 + length;
		}
		throw new Error("A JPEG without a frame header");
	}
	if (bytes.toString("ascii", 0, 4) === "RIFF" && bytes.toString("ascii", 8, 12) === "WEBP") {
		const chunk = bytes.toString("ascii", 12, 16);
		if (chunk === "VP8X") return { format: "webp", width: bytes.readUIntLE(24, 3) + 1, height: bytes.readUIntLE(27, 3) + 1 };
		if (chunk === "VP8 ") return { format: "webp", width: bytes.readUInt16LE(26) & 0x3fff, height: bytes.readUInt16LE(28) & 0x3fff };
		if (chunk === "VP8L") {
			const bits = bytes.readUInt32LE(21);
			return { format: "webp", width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 };
		}
	}
	throw new Error(`Not a PNG, JPEG or WebP image (starts ${bytes.subarray(0, 12).toString("hex")})`);
}
