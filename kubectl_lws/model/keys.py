"""LWS API identity, labels, annotations and env names (from ../shared/lws-reference.md §1, §5, §6).

Never spell an LWS key anywhere else: import it from here.
"""

LWS_GROUP = "leaderworkerset.x-k8s.io"
LWS_VERSION = "v1"
LWS_PLURAL = "leaderworkersets"
LWS_KIND = "LeaderWorkerSet"
LWS_CRD_NAME = f"{LWS_PLURAL}.{LWS_GROUP}"

_PREFIX = "leaderworkerset.sigs.k8s.io/"

# Labels (§5)
NAME_LABEL = _PREFIX + "name"
GROUP_INDEX_LABEL = _PREFIX + "group-index"
WORKER_INDEX_LABEL = _PREFIX + "worker-index"
GROUP_KEY_LABEL = _PREFIX + "group-key"
REVISION_LABEL = _PREFIX + "template-revision-hash"
SUBGROUP_INDEX_LABEL = _PREFIX + "subgroup-index"
SUBGROUP_KEY_LABEL = _PREFIX + "subgroup-key"

# Annotations (§5)
SIZE_ANNOTATION = _PREFIX + "size"
REPLICAS_ANNOTATION = _PREFIX + "replicas"
LEADER_NAME_ANNOTATION = _PREFIX + "leader-name"
EXCLUSIVE_TOPOLOGY_ANNOTATION = _PREFIX + "exclusive-topology"
SUBGROUP_EXCLUSIVE_TOPOLOGY_ANNOTATION = _PREFIX + "subgroup-exclusive-topology"
SUBGROUP_SIZE_ANNOTATION = _PREFIX + "subgroup-size"
SUBGROUP_POLICY_TYPE_ANNOTATION = _PREFIX + "subgroup-policy-type"
SUBDOMAIN_POLICY_ANNOTATION = _PREFIX + "subdomainPolicy"
LEADER_REQUESTS_TPUS_ANNOTATION = _PREFIX + "leader-requests-tpus"
RECREATE_AFTER_START_ANNOTATION = _PREFIX + "experimental-recreate-group-after-start"  # v0.8 (§2)

# Env injected into every container and init container (§6)
ENV_LEADER_ADDRESS = "LWS_LEADER_ADDRESS"
ENV_GROUP_SIZE = "LWS_GROUP_SIZE"
ENV_WORKER_INDEX = "LWS_WORKER_INDEX"
LWS_ENV_ORDER = (ENV_LEADER_ADDRESS, ENV_GROUP_SIZE, ENV_WORKER_INDEX)

# DisaggregatedSet (v0.9+, slices and role scalers v0.10; reference §1 and golden README section F)
DS_GROUP = "disaggregatedset.x-k8s.io"
DS_VERSION = "v1"
DS_PLURAL = "disaggregatedsets"
DS_KIND = "DisaggregatedSet"
DS_CRD_NAME = f"{DS_PLURAL}.{DS_GROUP}"
DSRS_PLURAL = "disaggregatedsetrolescalers"
DSRS_KIND = "DisaggregatedSetRoleScaler"
DSRS_CRD_NAME = f"{DSRS_PLURAL}.{DS_GROUP}"
_DS_PREFIX = DS_GROUP + "/"
DS_NAME_LABEL = _DS_PREFIX + "name"
DS_ROLE_LABEL = _DS_PREFIX + "role"
DS_SLICE_LABEL = _DS_PREFIX + "slice"
DS_REVISION_LABEL = _DS_PREFIX + "revision"
DS_INITIAL_REPLICAS_ANNOTATION = _DS_PREFIX + "initial-replicas"
DS_PRIVATE_SERVICE_SUFFIX = "-prv"  # the DS's headless Service per child LWS: <lws>-prv

# Kubernetes keys the plugin relies on
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
HOSTNAME_TOPOLOGY_KEY = "kubernetes.io/hostname"
ZONE_TOPOLOGY_KEY = "topology.kubernetes.io/zone"
STS_REVISION_HASH_LABEL = "controller.kubernetes.io/hash"

# The plugin's own annotation domain (never LWS's)
PAUSED_PARTITION_ANNOTATION = "lws.kubectl.dev/paused-from-partition"
# `rollout pause` also holds surge (maxSurge 0) and, when maxUnavailable was 0, sets it to 1 (the webhook
# refuses both at 0); the values it replaced are kept here for `resume`, as the partition is.
PAUSED_MAX_SURGE_ANNOTATION = "lws.kubectl.dev/paused-from-max-surge"
PAUSED_MAX_UNAVAILABLE_ANNOTATION = "lws.kubectl.dev/paused-from-max-unavailable"


def selector_for(lws_name: str, **extra: str) -> str:
    """Label selector for an LWS's pods, e.g. ``selector_for("basic", worker_index="0")``."""
    parts = [f"{NAME_LABEL}={lws_name}"]
    mapping = {"worker_index": WORKER_INDEX_LABEL, "group_index": GROUP_INDEX_LABEL}
    for key, value in extra.items():
        parts.append(f"{mapping[key]}={value}")
    return ",".join(parts)


# DisaggregatedSet (disaggregatedset.x-k8s.io): the labels it puts on each child LWS, its templates and pods
# (golden F.1). One child LWS per slice and role.
DS_GROUP = "disaggregatedset.x-k8s.io"
DS_NAME_LABEL = DS_GROUP + "/name"
DS_SLICE_LABEL = DS_GROUP + "/slice"
DS_ROLE_LABEL = DS_GROUP + "/role"
DS_REVISION_LABEL = DS_GROUP + "/revision"
