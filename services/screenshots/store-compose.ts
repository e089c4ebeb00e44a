/**
 * One store image as an HTML document of exactly the target's viewport (CSS pixels; the page's scale makes the
 * store's pixels): the theme's background, the caption in the bundled font, and the raw screenshot in a device
 * frame drawn with CSS (a phone with a Dynamic Island or a punch-hole camera, a tablet with even bezels; no
 * licensed frame images) or bare with rounded corners. The feature graphic is a banner: the icon, the app's name
 * and the first screen's caption beside the first screen in a phone.
 *
 * Every image is inlined as a data URL, so the page makes no request at all. Sizes are computed here, in CSS
 * pixels, from the viewport: the same layout at every store size.
 */
import type { FrameStyle, StoreTheme } from "../../models/screenshots/store-sets/store-set.model";
import type { StoreSetTarget } from "./store-set-plan";
import { fontFaces, fontStack } from "./store-theme";

export interface InlineImage {
	dataUrl: string;
	width: number;
	height: number;
}

export interface ComposeInput {
	viewport: { width: number; height: number };
	target: StoreSetTarget;
	theme: StoreTheme;
	frame: FrameStyle;
	locale: string;
	caption: string;
	screenshot: InlineImage;
	backgroundImage?: InlineImage;
	/** The feature graphic's. */
	appName?: string;
	icon?: InlineImage;
}

/** A screenshot at least this wide for its height is a tablet's, and gets a tablet's frame. */
const TABLET_ASPECT = 0.6;

const px = (value: number) => `${Math.round(value * 100) / 100}px`;

function escapeHtml(text: string): string {
	return text.replace(/[&<>"']/g, (char) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[char]!);
}

function background(theme: StoreTheme, image?: InlineImage): string {
	const layers: string[] = [];
	if (image) layers.push(`url("${image.dataUrl}") center / cover no-repeat`);
	if (theme.gradient) layers.push(`linear-gradient(${theme.gradient.angle}deg, ${theme.gradient.from}, ${theme.gradient.to})`);
	return [...layers, theme.backgroundColor].join(", ");
}

interface Box {
	left: number;
	top: number;
	width: number;
}

/**
 * A device of outer width `box.width` around the screenshot (its own aspect ratio, so nothing is cropped):
 * returns the markup and the outer height.
 */
function device(shot: InlineImage, box: Box, input: Pick<ComposeInput, "frame" | "theme" | "target">): { html: string; height: number } {
	const aspect = shot.width / shot.height;
	const tablet = aspect >= TABLET_ASPECT;
	const image = `<img src="${shot.dataUrl}" alt="" style="display:block;width:100%;height:100%;object-fit:cover;object-position:top">`;
	if (input.frame === "none") {
		const height = box.width / aspect;
		const radius = box.width * (tablet ? 0.03 : 0.08);
		return {
			height,
			html: `<div style="position:absolute;left:${px(box.left)};top:${px(box.top)};width:${px(box.width)};height:${px(height)};border-radius:${px(radius)};overflow:hidden;box-shadow:0 ${px(box.width * 0.03)} ${px(box.width * 0.08)} rgba(0,0,0,.35)">${image}</div>`,
		};
	}
	const bezel = box.width * (tablet ? 0.032 : 0.035);
	const screenWidth = box.width - 2 * bezel;
	const screenHeight = screenWidth / aspect;
	const height = screenHeight + 2 * bezel;
	const outerRadius = box.width * (tablet ? 0.055 : 0.15);
	const innerRadius = Math.max(0, outerRadius - bezel);
	const color = input.theme.frameColor;
	const parts: string[] = [];
	// The frame: a rim of lighter edge so a dark frame still reads on a dark background.
	parts.push(
		`<div style="position:absolute;inset:0;border-radius:${px(outerRadius)};background:${color};box-shadow:inset 0 0 0 ${px(Math.max(1, bezel * 0.12))} rgba(255,255,255,.18),0 ${px(box.width * 0.03)} ${px(box.width * 0.09)} rgba(0,0,0,.4)"></div>`,
	);
	parts.push(`<div style="position:absolute;left:${px(bezel)};top:${px(bezel)};width:${px(screenWidth)};height:${px(screenHeight)};border-radius:${px(innerRadius)};overflow:hidden;background:#000">${image}</div>`);
	if (tablet) {
		// The front camera, in the top bezel.
		const dot = bezel * 0.35;
		parts.push(`<div style="position:absolute;left:${px(box.width / 2 - dot / 2)};top:${px(bezel / 2 - dot / 2)};width:${px(dot)};height:${px(dot)};border-radius:50%;background:#0b0b0d;box-shadow:0 0 0 ${px(dot * 0.15)} rgba(255,255,255,.12)"></div>`);
	} else if (input.target.platform === "ios") {
		// The Dynamic Island.
		const width = screenWidth * 0.3;
		const islandHeight = screenWidth * 0.085;
		parts.push(`<div style="position:absolute;left:${px(box.width / 2 - width / 2)};top:${px(bezel + screenWidth * 0.03)};width:${px(width)};height:${px(islandHeight)};border-radius:${px(islandHeight / 2)};background:#000"></div>`);
	} else {
		// A punch-hole camera.
		const dot = screenWidth * 0.04;
		parts.push(`<div style="position:absolute;left:${px(box.width / 2 - dot / 2)};top:${px(bezel + screenWidth * 0.025)};width:${px(dot)};height:${px(dot)};border-radius:50%;background:#000"></div>`);
	}
	if (!tablet) {
		// Side buttons, just outside the frame.
		const thickness = Math.max(1, bezel * 0.22);
		const side = (left: number, top: number, length: number) =>
			`<div style="position:absolute;left:${px(left)};top:${px(top)};width:${px(thickness)};height:${px(length)};border-radius:${px(thickness / 2)};background:${color}"></div>`;
		parts.push(side(box.width - thickness * 0.4, height * 0.22, height * 0.1));
		parts.push(side(-thickness * 0.6, height * 0.18, height * 0.06));
		parts.push(side(-thickness * 0.6, height * 0.26, height * 0.06));
	}
	return { height, html: `<div style="position:absolute;left:${px(box.left)};top:${px(box.top)};width:${px(box.width)};height:${px(height)}">${parts.join("")}</div>` };
}

function page(input: ComposeInput, body: string): string {
	const { width, height } = input.viewport;
	return `<!doctype html><html lang="${escapeHtml(input.locale)}"><head><meta charset="utf-8"><style>
${fontFaces(input.theme.font)}
html,body{margin:0;padding:0;width:${px(width)};height:${px(height)};overflow:hidden}
#canvas{position:relative;width:${px(width)};height:${px(height)};overflow:hidden;background:${background(input.theme, input.backgroundImage)};font-family:${fontStack(input.theme.font)};color:${input.theme.captionColor};-webkit-font-smoothing:antialiased}
.caption{position:absolute;display:flex;align-items:center;justify-content:center;text-align:center;font-weight:700;line-height:1.15;white-space:pre-line;overflow-wrap:anywhere}
.caption span{display:-webkit-box;-webkit-box-orient:vertical;-webkit-line-clamp:3;overflow:hidden}
</style></head><body><div id="canvas">${body}</div></body></html>`;
}

/** A screen: the caption in its band (top or bottom) and the device in the rest. */
export function composeScreen(input: ComposeInput): string {
	const { width, height } = input.viewport;
	const tabletShot = input.screenshot.width / input.screenshot.height >= TABLET_ASPECT;
	const band = height * 0.17;
	const margin = height * 0.03;
	const fontSize = width * (input.target.form === "tablet" ? 0.052 : 0.075);
	const top = input.theme.captionPosition === "top";
	const caption = input.caption.trim()
		? `<div class="caption" style="left:${px(width * 0.07)};right:${px(width * 0.07)};top:${px(top ? 0 : height - band)};height:${px(band)};font-size:${px(fontSize)}"><span>${escapeHtml(input.caption.trim())}</span></div>`
		: "";
	// The device fills what the band leaves, as wide as the layout allows, close to its caption.
	const available = { width: width * (tabletShot ? 0.86 : 0.84), height: height - band - 2 * margin };
	const aspect = input.screenshot.width / input.screenshot.height;
	const k = input.frame === "none" ? 0 : tabletShot ? 0.032 : 0.035;
	// outer height = screen height + 2 bezels = w(1 - 2k)/aspect + 2kw.
	const heightPerWidth = (1 - 2 * k) / aspect + 2 * k;
	const deviceWidth = Math.min(available.width, available.height / heightPerWidth);
	const deviceHeight = deviceWidth * heightPerWidth;
	const deviceTop = top ? band + margin : height - band - margin - deviceHeight;
	const frame = device(input.screenshot, { left: (width - deviceWidth) / 2, top: deviceTop, width: deviceWidth }, input);
	return page(input, caption + frame.html);
}

/** The feature graphic: icon, name and tagline on the left, the first screen in a phone on the right (cut by the bottom edge). */
export function composeBanner(input: ComposeInput): string {
	const { width, height } = input.viewport;
	const pad = height * 0.11;
	const iconSize = height * 0.22;
	const textWidth = width * 0.56 - pad;
	const icon = input.icon
		? `<img src="${input.icon.dataUrl}" alt="" style="display:block;width:${px(iconSize)};height:${px(iconSize)};border-radius:${px(iconSize * 0.22)};object-fit:cover;box-shadow:0 ${px(iconSize * 0.04)} ${px(iconSize * 0.12)} rgba(0,0,0,.3);margin-bottom:${px(height * 0.05)}">`
		: "";
	const name = input.appName ? `<div style="font-weight:700;font-size:${px(height * 0.12)};line-height:1.1;overflow-wrap:anywhere">${escapeHtml(input.appName)}</div>` : "";
	const tagline = input.caption.trim()
		? `<div style="font-weight:400;font-size:${px(height * 0.062)};line-height:1.25;margin-top:${px(height * 0.035)};opacity:.92;white-space:pre-line;display:-webkit-box;-webkit-box-orient:vertical;-webkit-line-clamp:3;overflow:hidden">${escapeHtml(input.caption.trim())}</div>`
		: "";
	const text = `<div style="position:absolute;left:${px(pad)};top:0;bottom:0;width:${px(textWidth)};display:flex;flex-direction:column;justify-content:center">${icon}${name}${tagline}</div>`;
	const deviceWidth = Math.min(width * 0.3, height * 0.62);
	const phone = device(input.screenshot, { left: width * 0.62 + (width * 0.38 - deviceWidth) / 2, top: pad, width: deviceWidth }, { ...input, target: { ...input.target, platform: "android" } });
	return page(input, text + phone.html);
}
