# syntax=docker/dockerfile:1

# One image for every node role: SERVICES picks the domains at run time, so compose and k8s only differ in env.
ARG NODE_IMAGE=node:24-bookworm-slim

# Full dependency tree (dev included) because the build needs tsc.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund

FROM deps AS build
COPY . .
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
# Every role's image has Debian's Chromium and fonts: Playwright drives that browser and never downloads one.
# Billing (worker role) prints invoice PDFs with it (BILLING_CHROMIUM_PATH); the screenshots role renders with it
# (SCREENSHOT_CHROMIUM_PATH) and, built with WITH_CHROMIUM=true, also gets the CJK and emoji fonts store
# screenshots need. DejaVu and Liberation cover the Latin, Greek and Cyrillic text and the currency signs.
ARG WITH_CHROMIUM=false
RUN apt-get update \
	&& apt-get install -y --no-install-recommends chromium fonts-dejavu-core fonts-liberation \
	&& if [ "$WITH_CHROMIUM" = "true" ]; then apt-get install -y --no-install-recommends fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji; fi \
	&& rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
ENV PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund

FROM deps AS build
COPY . .
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
# Every role's image has Debian's Chromium and fonts: Playwright drives that browser and never downloads one.
# Billing (worker role) prints invoice PDFs with it (BILLING_CHROMIUM_PATH); the screenshots role renders with it
# (SCREENSHOT_CHROMIUM_PATH) and, built with WITH_CHROMIUM=true, also gets the CJK and emoji fonts store
# screenshots need. DejaVu and Liberation cover the Latin, Greek and Cyrillic text and the currency signs.
ARG WITH_CHROMIUM=false
RUN apt-get update \
	&& apt-get install -y --no-install-recommends chromium fonts-dejavu-core fonts-liberation \
	&& if [ "$WITH_CHROMIUM" = "true" ]; then apt-get install -y --no-install-recommends fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji; fi \
	&& rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
ENV PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
WORKDIR /app
# Billing renders invoice PDFs with Playwright driving Debian's Chromium (BILLING_CHROMIUM_PATH=/usr/bin/chromium);
# playwright downloads no browser of its own. DejaVu and Liberation cover the Latin, Greek and Cyrillic
# text and the currency signs invoices print.
RUN apt-get update \
	&& apt-get install -y --no-install-recommends chromium fonts-dejavu-core fonts-liberation \
	&& rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# The cache mount keeps npm's download cache out of the final layer.
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund
COPY --from=build /app/dist ./dist
# Sources only: once compiled, PROJECT_ROOT is dist/, so nodes load services and migrations from dist/.
COPY services ./services
COPY models ./models
# Files stay owned by root so the process cannot rewrite its own code; it only needs to read it.
USER node
EXPOSE 3000 3001
# Gateway nodes answer on PORT, every other role on its ops listener (OPS_PORT); the slim image has no curl.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
	CMD ["node", "-e", "const s=(process.env.SERVICES||'').trim()||'*';const all=s==='*'||s==='all';const gw=all||s.split(',').map((x)=>x.trim()).includes('gateway');const p=gw?(process.env.PORT||3000):(process.env.OPS_PORT||3001);fetch('http://127.0.0.1:'+p+'/readyz').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/server.js"]
