# unwrapd: a non-root image holding the compiled daemon, its production dependencies and the protos; no
# sources, no dev dependencies, no compiler. docs/operations.md ("Container image") explains each choice.
#
#   docker build -t unwrapd:0.1.0 .
#   docker run --rm --read-only -v unwrapd-data:/var/lib/unwrapd -v unwrapd-run:/run/unwrapd unwrapd:0.1.0
#   docker run ... -e UNWRAPD_DEMO=1 unwrapd:0.1.0     # a try-out: local demo keys and the demo policy
#
# Three stages: `deps` installs the production dependencies only (pkcs11js, the PKCS#11 provider, is a
# native addon that node-gyp compiles during npm ci, so this stage has python3, make and g++); `build`
# compiles TypeScript with the dev dependencies (`npm run build`: scripts/build.mjs; npm ci's `prepare` builds
# nothing where src/ is absent); the final stage copies the results of both onto a clean base, so neither the
# toolchain nor a dev dependency reaches the image.

FROM node:20-bookworm-slim AS toolchain
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./

FROM toolchain AS deps
RUN npm ci --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/pkcs11js/build/Release/obj.target node_modules/pkcs11js/build/Release/.deps

FROM toolchain AS build
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY proto ./proto
COPY src ./src
COPY bin ./bin
COPY scripts/build.mjs ./scripts/
RUN npm run build

FROM node:20-bookworm-slim
# A numeric user and group (not the base image's `node`), so that Kubernetes can verify runAsNonRoot and
# the manifests in deploy/ can name the same ids. The root file system can be mounted read-only: the
# daemon writes only to its data directory and its socket directories, both volumes.
ENV NODE_ENV=production \
    UNWRAPD_DATA_DIR=/var/lib/unwrapd \
    UNWRAPD_LISTEN=unix:///run/unwrapd/unwrapd.sock \
    UNWRAPD_ADMIN_LISTEN=unix:///run/unwrapd-admin/admin.sock \
    UNWRAPD_METRICS_LISTEN=0.0.0.0:9464 \
    UNWRAPD_DEMO=0
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY proto ./proto
COPY bin ./bin
# The data directory 0700 (policies, keystore, audit log); the data socket's directory is shared with the
# application through a volume; the admin socket's directory is never shared.
RUN mkdir -p /var/lib/unwrapd /run/unwrapd /run/unwrapd-admin \
 && chown 10001:10001 /var/lib/unwrapd /run/unwrapd /run/unwrapd-admin \
 && chmod 0700 /var/lib/unwrapd /run/unwrapd-admin \
 && chmod 0750 /run/unwrapd
USER 10001:10001
VOLUME ["/var/lib/unwrapd", "/run/unwrapd", "/run/unwrapd-admin"]
EXPOSE 9464
# Liveness over the metrics listener's /healthz, with bash's /dev/tcp: no curl in the image, and no Node
# process started per check. A revocation or a provider outage never fails it (docs/operations.md).
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${UNWRAPD_METRICS_LISTEN##*:} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r _ code _ <&3 && [ \"$code\" = 200 ]"]
# SIGTERM drains in-flight calls, zeroizes cached keys and exits 0 (docs/operations.md, "Shutdown").
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/unwrapd.js"]
CMD ["serve"]
