"""What each component of the test node is told: containerd, CNI, kwokctl, kubelet and kube-proxy
configurations, the cluster DNS add-on and the metrics API registration. Pure functions: no side effects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

RUN_DIR = Path("/run/panel-node")
NETNS = "panel-node"
NETNS_PATH = Path("/run/netns") / NETNS
NODE_NAME = "node1"
NODE_IP = "10.245.0.1"
POD_CIDR = "10.245.0.0/24"
SERVICE_CIDR = "10.96.0.0/16"
APISERVER_PORT = 6443
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
COREDNS_IMAGE = "localhost/panel-node/coredns:1.15.0"
CLUSTER_DNS_IP = "10.96.0.10"
# Global (not per-namespace) sysctls the kubelet rewrites at start (setupKernelTunables); restored on down.
KUBELET_SYSCTLS = ("vm.overcommit_memory", "kernel.panic", "kernel.panic_on_oops")
# Node daemons in stop order: the kubelet first, so that nothing restarts pods while they are removed.
NODE_DAEMONS = ("kubelet", "kube-router", "metrics-server", "kube-proxy")
CGROUP_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "pids")
CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap")


def containerd_config(state: Path) -> str:
    return f"""\
# containerd 2.x for the test node: cgroup v1 host without systemd, no CAP_SYS_RESOURCE.
version = 3
root = "{state}/containerd"
state = "{RUN_DIR}/containerd"
oom_score = 0

[grpc]
  address = "{RUN_DIR}/containerd/containerd.sock"

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "{PAUSE_IMAGE}"

[plugins.'io.containerd.cri.v1.runtime']
  # The kubelet asks for negative oom_score_adj values, which need CAP_SYS_RESOURCE (absent here):
  # runc would fail every sandbox. Clamp them to containerd's own score instead.
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_unprivileged_ports = true
  enable_unprivileged_icmp = true
  tolerate_missing_hugetlb_controller = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "{state}/cni"

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
"""


def cni_config() -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": "panel-node",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": False,
                # A pod reaching itself through its own Service (kube-proxy DNAT back to the same veth).
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": f"{RUN_DIR}/cni-ipam",
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kwokctl_config() -> dict[str, Any]:
    def args(**flags: str) -> list[dict[str, str]]:
        return [{"key": key.replace("_", "-"), "value": value} for key, value in flags.items()]

    return {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokctlConfiguration",
        "options": {
            # 0.0.0.0 inside the namespace is lo + cni0 only. kwokctl writes 127.0.0.1 into every
            # kubeconfig it makes, so binding only the node IP would break them.
            "bindAddress": "0.0.0.0",  # noqa: S104
            "kubeApiserverPort": APISERVER_PORT,
            "kubeApiserverCertSANs": [NODE_IP, "10.96.0.1"],
            # kwokctl's fake-node controller manages every node (--manage-all-nodes): it would take over
            # the real kubelet's node and report pods Running itself.
            "disable": ["kwok-controller"],
        },
        "componentsPatches": [
            {
                "name": "kube-apiserver",
                "extraArgs": args(
                    # No default route in the namespace: the apiserver cannot guess its own address, and
                    # the `kubernetes` Service that pods use must point at the node IP.
                    advertise_address=NODE_IP,
                    service_cluster_ip_range=SERVICE_CIDR,
                    # logs/exec/port-forward: dial the node's InternalIP; its Hostname would be looked up
                    # through the host's resolver, unreachable from the namespace.
                    kubelet_preferred_address_types="InternalIP,Hostname",
                ),
            },
            {
                "name": "kube-controller-manager",
                # The node's spec.podCIDR (kube-router's policy rules read it) = the CNI bridge's subnet.
                "extraArgs": args(
                    allocate_node_cidrs="true",
                    cluster_cidr=POD_CIDR,
                    node_cidr_mask_size="24",
                    service_cluster_ip_range=SERVICE_CIDR,
                ),
            },
        ],
    }


def kubelet_config(state: Path) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # Default true since 1.35: the kubelet refuses cgroup v1 hosts unless told otherwise.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",  # no systemd as PID 1
        "containerRuntimeEndpoint": f"unix://{RUN_DIR}/containerd/containerd.sock",
        "address": NODE_IP,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        # The apiserver and metrics-server call the kubelet without a kubelet client certificate (kwokctl
        # configures none). Acceptable only because nothing outside the namespace can connect.
        "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
        "authorization": {"mode": "AlwaysAllow"},
        "clusterDomain": "cluster.local",
        "clusterDNS": [CLUSTER_DNS_IP],
        "resolvConf": str(state / "resolv.conf"),
        "oomScoreAdj": 0,  # -999 needs CAP_SYS_RESOURCE
        "failSwapOn": True,
        # Not protectKernelDefaults: the kubelet would exit instead of setting the three sysctls we restore.
        "protectKernelDefaults": False,
        # Image GC must never delete an imported image: there is no registry to pull it back from.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "200Mi",
            "nodefs.available": "2%",
            "imagefs.available": "2%",
            "nodefs.inodesFree": "2%",
        },
        "serializeImagePulls": False,
        "maxPods": 60,
        "podPidsLimit": 4096,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "containerLogMaxSize": "10Mi",
        "podLogsDir": str(state / "pod-logs"),
        # Probes and the HPA's metrics come sooner: the tests wait on them.
        "nodeStatusUpdateFrequency": "5s",
    }


def kube_proxy_config(state: Path) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(state / "kubeconfig")},
        "mode": "iptables",
        "hostnameOverride": NODE_NAME,
        "clusterCIDR": POD_CIDR,
        "bindAddress": NODE_IP,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "oomScoreAdj": 0,
        # nf_conntrack_max is read-only outside the initial namespace: writing it would be fatal.
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }


WATCH = ["list", "watch"]
COREFILE = """\
.:53 {
    errors
    health :8080
    ready :8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    # Nothing is forwarded: the node has no upstream resolver.
    template ANY ANY {
        rcode NXDOMAIN
    }
    cache 10
    loadbalance
}
"""


def cluster_dns() -> list[dict[str, Any]]:
    """CoreDNS as the usual kube-system add-on (pods labelled k8s-app=kube-dns behind the kube-dns Service):
    the chart's NetworkPolicies allow DNS to exactly those pods, so a node-local resolver would be denied."""
    labels = {"k8s-app": "kube-dns"}
    role = "panel-node:coredns"
    metadata = {"name": "coredns", "namespace": "kube-system"}
    restricted = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    probe = {"periodSeconds": 2, "timeoutSeconds": 2}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": role},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": role},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "panel-node:coredns",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}],
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"Corefile": COREFILE}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {**metadata, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "coredns",
                        "dnsPolicy": "Default",
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 65534,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [
                            {
                                "name": "coredns",
                                "image": COREDNS_IMAGE,
                                "imagePullPolicy": "Never",
                                "args": ["-conf", "/etc/coredns/Corefile"],
                                # containerd opens ports below 1024 to unprivileged pods
                                # (enable_unprivileged_ports), so port 53 needs no capability.
                                "ports": [
                                    {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                    {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                                ],
                                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, **probe},
                                "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}, **probe},
                                "securityContext": restricted,
                                "resources": {"requests": {"cpu": "20m", "memory": "32Mi"}},
                                "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns"}],
                            }
                        ],
                        "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
            "spec": {
                "selector": labels,
                "clusterIP": CLUSTER_DNS_IP,
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                ],
            },
        },
    ]


# metrics-server runs as a node process on the node IP; the aggregated API reaches it by an ExternalName.
METRICS_API = [
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "metrics-server", "namespace": "kube-system"},
        "spec": {"type": "ExternalName", "externalName": NODE_IP, "ports": [{"port": 4443}]},
    },
    {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": "v1beta1.metrics.k8s.io"},
        "spec": {
            "group": "metrics.k8s.io",
            "version": "v1beta1",
            "service": {"namespace": "kube-system", "name": "metrics-server", "port": 4443},
            # metrics-server's certificate is self-signed (made at start in its cert dir).
            "insecureSkipTLSVerify": True,
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
        },
    },
]
