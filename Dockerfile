# syntax=docker/dockerfile:1
# The shop bot and botctl in one image: `docker build -t bot-auto-order:latest .`
# Runtime: Node 20 (the oldest supported), PostgreSQL client tools matching the server
# (PG_MAJOR; pg_dump must be at least the server's major version), a non-root user.
# Tenant data (.env, logs, backups, state) is a volume at /srv/tenant, never part of the image.

ARG NODE_VERSION=20
ARG PG_MAJOR=15

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
# corepack cannot always verify pnpm's signature behind a registry mirror; install the pinned one.
RUN npm install -g pnpm@10.34.9
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml .npmrc tsconfig.base.json ./
COPY packages/core/package.json packages/core/
COPY packages/maintenance/package.json packages/maintenance/
COPY packages/maintenance-cli/package.json packages/maintenance-cli/
COPY packages/bot/package.json packages/bot/
COPY packages/test-utils/package.json packages/test-utils/
RUN pnpm install --frozen-lockfile
COPY packages packages
RUN pnpm -r --filter "./packages/core" --filter "./packages/maintenance" --filter "./packages/maintenance-cli" --filter "./packages/bot" run build \
 && pnpm install --frozen-lockfile --prod --offline

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ARG PG_MAJOR
# postgresql-client-NN from Debian (bookworm ships 15); for another server major, add the PGDG
# repository and set --build-arg PG_MAJOR=NN.
RUN apt-get update \
 && apt-get install -y --no-install-recommends "postgresql-client-${PG_MAJOR}" ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production PG_BIN_DIR=/usr/lib/postgresql/${PG_MAJOR}/bin
WORKDIR /app
COPY --from=build /app/package.json /app/pnpm-workspace.yaml ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/packages/core/package.json packages/core/
COPY --from=build /app/packages/core/dist packages/core/dist
COPY --from=build /app/packages/core/migrations packages/core/migrations
COPY --from=build /app/packages/core/node_modules packages/core/node_modules
COPY --from=build /app/packages/maintenance/package.json packages/maintenance/
COPY --from=build /app/packages/maintenance/dist packages/maintenance/dist
COPY --from=build /app/packages/maintenance/node_modules packages/maintenance/node_modules
COPY --from=build /app/packages/maintenance-cli/package.json packages/maintenance-cli/
COPY --from=build /app/packages/maintenance-cli/dist packages/maintenance-cli/dist
COPY --from=build /app/packages/maintenance-cli/node_modules packages/maintenance-cli/node_modules
COPY --from=build /app/packages/bot/package.json packages/bot/
COPY --from=build /app/packages/bot/dist packages/bot/dist
COPY --from=build /app/packages/bot/node_modules packages/bot/node_modules
COPY bin bin
COPY scripts scripts
# The official image's unprivileged user (uid 1000); it owns nothing in /app.
USER node
VOLUME ["/srv/tenant"]
WORKDIR /srv/tenant
EXPOSE 8080
# The bot's own /healthz (BOT_HTTP_HOST must be 0.0.0.0 inside the container; compose sets it).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
# `--` keeps Node from reading our --env-file as its own option (nodejs/node#54232).
CMD ["node", "--", "/app/packages/bot/dist/main.js", "--env-file", "/srv/tenant/.env"]
