# shellcheck shell=bash
# Puts Node >= 22 first on PATH. When the system Node is older, Node 24 is installed from the npm
# registry's `node` package into .ci/node (ignored by git) and used from there.
NODE_VERSION_WANTED="${NODE_VERSION_WANTED:-24.21.0}"
current_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$current_major" -lt 22 ]; then
	node_prefix="$(pwd)/.ci/node"
	if [ ! -x "$node_prefix/node_modules/.bin/node" ] || [ "$("$node_prefix/node_modules/.bin/node" --version)" != "v$NODE_VERSION_WANTED" ]; then
		mkdir -p "$node_prefix"
		npm install --prefix "$node_prefix" --no-save --no-audit --no-fund "node@$NODE_VERSION_WANTED" >/dev/null
	fi
	export PATH="$node_prefix/node_modules/.bin:$PATH"
fi
