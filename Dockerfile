# The ModelPlane operator (and, later, gateway) image: slim, non-root, pinned base.
FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/ operator/
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11.11-slim-bookworm
LABEL org.opencontainers.image.source="https://github.com/modelplane/modelplane" \
      org.opencontainers.image.description="ModelPlane operator for vLLM on Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /install /usr/local
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin modelplane
USER 10001:10001
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
EXPOSE 8080
ENTRYPOINT ["modelplane"]
CMD ["operator"]
