"""An in-cluster client: uses the pod's service-account token and the cluster
CA exactly as client libraries do, and prints what the API server allowed."""

import json
import os
import ssl
import urllib.error
import urllib.request

SA = "/var/run/secrets/kubernetes.io/serviceaccount"
host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
token = open(f"{SA}/token").read()
namespace = open(f"{SA}/namespace").read()
context = ssl.create_default_context(cafile=f"{SA}/ca.crt")

for resource in ("pods", "secrets"):
    req = urllib.request.Request(
        f"https://{host}:{port}/api/v1/namespaces/{namespace}/{resource}",
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(req, context=context, timeout=10) as resp:
            items = json.load(resp)["items"]
            print(f"{resource}: {resp.status} {len(items)}", flush=True)
    except urllib.error.HTTPError as err:
        print(f"{resource}: {err.code}", flush=True)
