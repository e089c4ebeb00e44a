/**
 * Swagger UI page for the generated OpenAPI document. Assets come from the swagger-ui-dist package served
 * by the gateway itself (no CDN: the docs must work offline), and the page carries no inline script so it
 * survives a strict Content-Security-Policy: the initialiser is a separate file (see renderApiDocsInitScript).
 */
import path from "node:path";
import { escapeHtml } from "./html";

export interface ApiDocsPageOptions {
	title: string;
	/** URL of the OpenAPI JSON document. */
	specUrl: string;
	/** URL prefix under which swaggerUiAssetsDir() and init.js are served, e.g. "/api/docs/assets". */
	assetsPath: string;
}

function assetUrl(assetsPath: string, file: string): string {
	return `${assetsPath.replace(/\/+$/, "")}/${file}`;
}

/** Directory holding swagger-ui-dist's static files (same as its getAbsoluteFSPath()). */
export function swaggerUiAssetsDir(): string {
	// Resolving package.json avoids requiring the package index, which loads the whole 1.5 MB browser bundle.
	return path.dirname(require.resolve("swagger-ui-dist/package.json"));
}

/** The page; the spec URL travels in a data attribute so init.js stays a static file. */
export function renderApiDocsPage(options: ApiDocsPageOptions): string {
	const title = escapeHtml(options.title);
	const asset = (file: string): string => escapeHtml(assetUrl(options.assetsPath, file));
	return `<!doctype html>
<html lang="en">
<head>
	<meta charset="utf-8">
	<meta name="viewport" content="width=device-width, initial-scale=1">
	<title>${title}</title>
	<link rel="stylesheet" href="${asset("swagger-ui.css")}">
	<link rel="icon" type="image/png" sizes="32x32" href="${asset("favicon-32x32.png")}">
	<link rel="icon" type="image/png" sizes="16x16" href="${asset("favicon-16x16.png")}">
</head>
<body>
	<noscript>This page needs JavaScript. The raw OpenAPI document is at <a href="${escapeHtml(options.specUrl)}">${escapeHtml(options.specUrl)}</a>.</noscript>
	<div id="swagger-ui" data-spec-url="${escapeHtml(options.specUrl)}"></div>
	<script src="${asset("swagger-ui-bundle.js")}"></script>
	<script src="${asset("init.js")}"></script>
</body>
</html>
`;
}

/** The initialiser served at `${assetsPath}/init.js`; `specUrl` is the fallback when the page lacks the attribute. */
export function renderApiDocsInitScript(specUrl: string): string {
	// JSON.stringify plus "<" escaping yields a JS string literal that is also safe if ever inlined in HTML.
	const fallback = JSON.stringify(specUrl).replace(/</g, "\\u003c");
	return `"use strict";
window.addEventListener("DOMContentLoaded", function () {
	var root = document.getElementById("swagger-ui");
	window.ui = SwaggerUIBundle({
		url: (root && root.getAttribute("data-spec-url")) || ${fallback},
		dom_id: "#swagger-ui",
		deepLinking: true,
		persistAuthorization: true,
		// The default validator badge calls validator.swagger.io; the docs must work offline.
		validatorUrl: null,
		presets: [SwaggerUIBundle.presets.apis],
		layout: "BaseLayout"
	});
});
`;
}
