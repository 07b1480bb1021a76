# unwrapd: a non-root image with the compiled daemon only (no sources, no dev dependencies).
# Build: docker build -t unwrapd .   Run: see deploy/ and docs/operations.md.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# pkcs11js (the PKCS#11 provider) is a native addon that node-gyp builds during npm ci.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY proto ./proto
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    UNWRAPD_DATA_DIR=/var/lib/unwrapd \
    UNWRAPD_LISTEN=unix:///run/unwrapd/unwrapd.sock
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY proto ./proto
COPY bin ./bin
# The `node` user (uid 1000) owns only its data and socket directories.
RUN mkdir -p /var/lib/unwrapd /run/unwrapd && chown node:node /var/lib/unwrapd /run/unwrapd && chmod 0700 /var/lib/unwrapd
USER node
VOLUME ["/var/lib/unwrapd", "/run/unwrapd"]
# SIGTERM drains in-flight calls, zeroizes cached keys and exits 0 within UNWRAPD_SHUTDOWN_TIMEOUT_MS.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/unwrapd.js"]
CMD ["serve"]
