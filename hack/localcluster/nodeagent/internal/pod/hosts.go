package pod

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// hostsFile is the pod's /etc/hosts, like the kubelet-managed one: the
// pod's own hostname resolves to its IP without any DNS lookup (which
// would fail here anyway, as pods have no route to a resolver).
const hostsFile = "etc-hosts"

func writeHosts(podDir, ip, hostname string, aliases []corev1.HostAlias) error {
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file (modelplane-node).\n")
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
	if len(aliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range aliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	return os.WriteFile(filepath.Join(podDir, hostsFile), []byte(b.String()), 0o644)
}

// hostsMount adds /etc/hosts unless the container mounts its own.
func hostsMount(podDir string, c *corev1.Container) (string, bool) {
	for _, m := range c.VolumeMounts {
		if filepath.Clean(m.MountPath) == "/etc/hosts" {
			return "", false
		}
	}
	return filepath.Join(podDir, hostsFile), true
}
