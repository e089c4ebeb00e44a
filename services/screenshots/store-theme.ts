/**
 * A store set's look: the background (a colour, a gradient over it or an image of the tenant's files), the
 * caption's font, position and colour, and the device frame's colour. Fonts are the open fonts bundled in
 * ./fonts (SIL Open Font License 1.1, copied from @fontsource 5.3.0): a render never loads a font from the
 * network, and the image looks the same on every worker whatever fonts its system has.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { UnprocessableEntityError } from "../../lib/errors";
import { CAPTION_POSITIONS, type StoreTheme } from "../../models/screenshots/store-sets/store-set.model";

interface BundledFont {
	family: string;
	/** The file stem of each weight: `<stem>-latin-<weight>-normal.woff2` and `…-latin-ext-…`. */
	stem: string;
	fallback: string;
}

export const FONTS: Readonly<Record<string, BundledFont>> = {
	inter: { family: "Inter", stem: "inter", fallback: "sans-serif" },
	lora: { family: "Lora", stem: "lora", fallback: "serif" },
};
export const FONT_IDS = Object.keys(FONTS);
const WEIGHTS = [400, 700] as const;

/** fontsource's unicode-range of each subset, so a glyph is taken from the subset that has it. */
const SUBSETS = {
	latin: "U+0000-00FF,U+0131,U+0152-0153,U+02BB-02BC,U+02C6,U+02DA,U+02DC,U+0304,U+0308,U+0329,U+2000-206F,U+20AC,U+2122,U+2191,U+2193,U+2212,U+2215,U+FEFF,U+FFFD",
	"latin-ext": "U+0100-02BA,U+02BD-02C5,U+02C7-02CC,U+02CE-02D7,U+02DD-02FF,U+0304,U+0308,U+0329,U+1D00-1DBF,U+1E00-1E9F,U+1EF2-1EFF,U+2020,U+20A0-20AB,U+20AD-20C0,U+2113,U+2C60-2C7F,U+A720-A7FF",
} as const;

/** Beside this file in the sources; the image copies them next to the compiled file (Dockerfile). */
const FONT_DIR = path.join(__dirname, "fonts");

const fontCss = new Map<string, string>();

/** The @font-face rules of a bundled font, its files inlined as data URLs (a render makes no request for them). */
export function fontFaces(fontId: string): string {
	const cached = fontCss.get(fontId);
	if (cached) return cached;
	const font = FONTS[fontId];
	if (!font) throw new Error(`No bundled font ${fontId}`);
	const rules: string[] = [];
	for (const weight of WEIGHTS) {
		for (const [subset, range] of Object.entries(SUBSETS)) {
			const data = readFileSync(path.join(FONT_DIR, `${font.stem}-${subset}-${weight}-normal.woff2`)).toString("base64");
			rules.push(`@font-face{font-family:"${font.family}";font-style:normal;font-weight:${weight};font-display:block;src:url(data:font/woff2;base64,${data}) format("woff2");unicode-range:${range};}`);
		}
	}
	const css = rules.join("\n");
	fontCss.set(fontId, css);
	return css;
}

export function fontStack(fontId: string): string {
	const font = FONTS[fontId] ?? FONTS.inter;
	return `"${font.family}", ${font.fallback}`;
}

const COLOR = { type: "string", pattern: /^#[0-9a-fA-F]{6}$/, messages: { stringPattern: "a colour is #RRGGBB" } } as const;

export const DEFAULT_THEME: StoreTheme = {
	backgroundColor: "#1F6FEB",
	gradient: null,
	backgroundImageFileId: null,
	font: "inter",
	captionPosition: "top",
	captionColor: "#FFFFFF",
	frameColor: "#1C1C1E",
};

/** What a request may say of the theme: every field optional (a create starts from the defaults, an update from the set's theme); null clears the gradient or the image. */
export const THEME_RULE = {
	type: "object",
	optional: true,
	strict: "remove",
	props: {
		backgroundColor: { ...COLOR, optional: true },
		gradient: {
			type: "object",
			optional: true,
			nullable: true,
			strict: "remove",
			props: { from: COLOR, to: COLOR, angle: { type: "number", integer: true, min: 0, max: 360, optional: true, default: 180 } },
			description: "A linear gradient over the background colour (angle in degrees, 180: top to bottom); null removes it",
		},
		backgroundImageFileId: { type: "uuid", optional: true, nullable: true, description: "An image of the tenant's files, covering the background; null removes it" },
		font: { type: "enum", values: FONT_IDS, optional: true, description: "A bundled open font: inter (sans-serif) or lora (serif)" },
		captionPosition: { type: "enum", values: CAPTION_POSITIONS, optional: true },
		captionColor: { ...COLOR, optional: true },
		frameColor: { ...COLOR, optional: true, description: "The device frame's colour" },
	},
	description: "The look: background, caption font, position and colour, frame colour",
} as const;

export type ThemeInput = Partial<StoreTheme>;

/** The theme a set keeps: `input` over `base`; a gradient and an image together are 422 BACKGROUND_CONFLICT. */
export function mergeTheme(base: StoreTheme, input: ThemeInput | undefined): StoreTheme {
	const theme: StoreTheme = { ...base };
	for (const [key, value] of Object.entries(input ?? {})) if (value !== undefined) (theme as unknown as Record<string, unknown>)[key] = value;
	theme.backgroundColor = theme.backgroundColor.toUpperCase();
	theme.captionColor = theme.captionColor.toUpperCase();
	theme.frameColor = theme.frameColor.toUpperCase();
	if (theme.gradient) theme.gradient = { from: theme.gradient.from.toUpperCase(), to: theme.gradient.to.toUpperCase(), angle: theme.gradient.angle ?? 180 };
	if (theme.gradient && theme.backgroundImageFileId) {
		throw new UnprocessableEntityError("A theme has a gradient or a background image, not both", "BACKGROUND_CONFLICT");
	}
	return theme;
}
