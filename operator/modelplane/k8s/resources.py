"""lightkube resource classes for our CRD."""

from __future__ import annotations

from lightkube.generic_resource import create_namespaced_resource

from modelplane.api.constants import GROUP, KIND, PLURAL, VERSION

ModelServiceResource = create_namespaced_resource(GROUP, VERSION, KIND, PLURAL)
