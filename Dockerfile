# hms-tool-router: build with the dev dependencies, run with production ones only.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json routes.yaml ./
COPY examples ./examples
# The outbox lives in /app/data: mount a volume there so acknowledged events survive the container.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 8080
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["serve", "--routes", "/app/routes.yaml", "--port", "8080", "--host", "0.0.0.0"]
