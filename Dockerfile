# syntax=docker/dockerfile:1
# mergeops: webhook receiver and job workers in one image (MERGEOPS_MODE picks the role).
#   docker build -t mergeops .
#   docker run -e MERGEOPS_MODE=web -e REDIS_URL=... -p 3000:3000 mergeops

# Base images pinned by digest (the tag is for people; the digest is what is pulled), so a
# release rebuilds from the same bytes. Refresh both together on purpose: a digest names one
# multi-platform index, which serves linux/amd64 and linux/arm64 alike. Checked against
# public Dockerfiles that pin the same tags (no registry reachable where this was written):
# refresh with `docker buildx imagetools inspect node:24-bookworm-slim` (the "Digest:" line).
ARG NODE_IMAGE=node:24-bookworm-slim@sha256:ba849c60be29959425b8734d57b8b4b7d56f98edd9504c9af091d5281095a71e
ARG GO_IMAGE=golang:1.26-bookworm@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d

# --- TypeScript → dist/ (plain JavaScript: built once on the build machine's platform) ---
FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- production dependencies only, installed for the target platform ---
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- kustomize and helm, pinned and built exactly as scripts/setup-test-env.sh builds them,
#     so production renders byte for byte what the tests pinned ---
FROM ${GO_IMAGE} AS tools
ARG KUBE_VERSION=1.36.3
ARG KUSTOMIZE_VERSION=5.8.1
ARG HELM_VERSION=3.22.0
ENV GOFLAGS="-buildvcs=false -mod=mod" CGO_ENABLED=0
RUN GOBIN=/out go install "sigs.k8s.io/kustomize/kustomize/v5@v${KUSTOMIZE_VERSION}"
# Without these ldflags helm reports v0.0.0 and a default KubeVersion, which breaks charts
# that check .Capabilities.
RUN pkg=helm.sh/helm/v3/internal/version \
    lint=helm.sh/helm/v3/pkg/lint/rules \
    cu=helm.sh/helm/v3/pkg/chartutil \
    minor="$(echo "$KUBE_VERSION" | cut -d. -f2)" \
 && GOBIN=/out go install -ldflags "-s -w -X $pkg.version=v$HELM_VERSION -X $pkg.gitTreeState=clean \
    -X $lint.k8sVersionMajor=1 -X $lint.k8sVersionMinor=$minor -X $cu.k8sVersionMajor=1 -X $cu.k8sVersionMinor=$minor" \
    "helm.sh/helm/v3/cmd/helm@v${HELM_VERSION}" \
 && /out/helm version --short && /out/kustomize version

# --- runtime ---
FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="mergeops" \
      org.opencontainers.image.description="GitHub App: live-cluster diff previews on pull requests, deploy on merge" \
      org.opencontainers.image.licenses="Apache-2.0"
# HOME is /tmp: the only writable place when the root filesystem is mounted read-only.
RUN groupadd --system --gid 10001 mergeops \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin mergeops
ENV NODE_ENV=production \
    MERGEOPS_HELM=/usr/local/bin/helm \
    MERGEOPS_KUSTOMIZE=/usr/local/bin/kustomize
COPY --from=tools /out/helm /out/kustomize /usr/local/bin/
WORKDIR /app
# Owned by root and not writable by the app user.
COPY package.json app.yml ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER 10001:10001
EXPOSE 3000
CMD ["node", "dist/main.js"]
