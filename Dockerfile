# syntax=docker/dockerfile:1
# Build stage: compile TypeScript with the dev dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --ignore-scripts
COPY src ./src
COPY console ./console
COPY scripts/build-console.mjs ./scripts/build-console.mjs
RUN npm run build && npm prune --omit=dev

# Runtime stage: non-root, data on a volume, health checked.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    MODGATE_LISTEN=0.0.0.0:8443 \
    MODGATE_DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY policies ./policies
COPY certs/README.md ./certs/README.md
RUN useradd --system --uid 10001 --home /data modgate && mkdir -p /data /app/certs && chown -R modgate /data /app/certs
USER modgate
VOLUME ["/data"]
EXPOSE 8443
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD NODE_TLS_REJECT_UNAUTHORIZED=0 node -e "fetch('https://127.0.0.1:8443/healthz').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
# First start creates a local CA and server certificate in /app/certs unless one is mounted there.
CMD ["sh", "-c", "node bin/modgate.js certs ensure && exec node bin/modgate.js serve"]
