#!/usr/bin/env bash
# Compiles into dist/ only when the sources changed since the last build, safely when
# several processes of one checkout do it at once (nodes started together by `npm start`,
# `npm test`): under a lock (flock on .build/lock), into a fresh directory that replaces
# dist/ only once it is complete, so that nobody starts from a half-written dist/. The
# sources' fingerprint is kept in dist/.sources-sha256.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p .build
exec 9>.build/lock
flock 9
fingerprint=$( { find src protocol bench chaos client/src web -type f \( -name '*.ts' -o -name '*.html' -o -name '*.css' \) -print0 | sort -z | xargs -0 sha256sum; sha256sum tsconfig.json package-lock.json; } | sha256sum | cut -d' ' -f1)
if [ -f dist/.sources-sha256 ] && [ "$(cat dist/.sources-sha256)" = "$fingerprint" ]; then
  echo "build: dist/ is up to date"
  exit 0
fi
fresh=.build/dist-$$
rm -rf "$fresh"
npx tsc -p tsconfig.json --outDir "$fresh"
# The browser app (web/, on the client SDK): one ES module, its style and page.
mkdir -p "$fresh/web"
npx esbuild web/src/main.ts --bundle --format=esm --platform=browser --target=es2022 --minify --sourcemap --log-level=warning --outfile="$fresh/web/app.js"
cp web/index.html web/app.css "$fresh/web/"
echo "$fingerprint" > "$fresh/.sources-sha256"
if [ -d dist ]; then mv dist ".build/old-$$"; fi
mv "$fresh" dist
rm -rf ".build/old-$$"
echo "build: compiled into dist/"
