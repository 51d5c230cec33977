# One server node. Used by docker-compose.yml; any orchestrator can run it the same way.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# scripts/build.sh as `npm start` runs it: the server, and the browser app (web/, on the
# client SDK) bundled into dist/web.
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
COPY protocol ./protocol
COPY bench ./bench
COPY chaos ./chaos
COPY client ./client
COPY web ./web
RUN bash scripts/build.sh && npm prune --omit=dev

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY migrations ./migrations
COPY src/stores/redis/scripts ./src/stores/redis/scripts
# DATA_DIR (secrets generated on first start, the embedded stores when no service is set)
# belongs to the user the node runs as.
ENV DATA_DIR=/app/data
RUN mkdir -p /app/data && chown node:node /app/data
VOLUME /app/data
USER node
EXPOSE 3000
# Healthy while the node answers /readyz (its required stores answer and it does not drain),
# on the port it listens on; node itself makes the request (the image has no curl).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=6 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT || 3000}/readyz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/src/main.js"]
