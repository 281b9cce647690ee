// Package agent wires the node agent together: API client, the
// virtual-kubelet node controller (registration, status, lease) and pod
// controller, the provider that runs pods as processes, and the kubelet
// API server that serves logs to the API server.
package agent

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"

	"modelplane.io/localcluster/nodeagent/internal/config"
	"modelplane.io/localcluster/nodeagent/internal/images"
	"modelplane.io/localcluster/nodeagent/internal/ipam"
	"modelplane.io/localcluster/nodeagent/internal/pod"
	"modelplane.io/localcluster/nodeagent/internal/provider"
	"modelplane.io/localcluster/nodeagent/internal/volumes"
)

// shutdownGrace is how long pods get to exit on SIGTERM when the agent
// itself stops, before everything in their namespaces is SIGKILLed.
const shutdownGrace = 3 * time.Second

// Run runs the node until ctx ends, then stops every pod and removes
// their network namespaces.
//
// It assembles virtual-kubelet's controllers itself rather than through
// nodeutil.NewNode, because NewNode starts cluster-wide Secret and
// ConfigMap informers that the Node authorizer forbids; the pod controller
// is given those informers (it insists) but they are never started.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	restCfg, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	restCfg.UserAgent = "modelplane-node/" + KubeletVersion
	// The kubelet's defaults; client-go's 5 QPS delays pod status updates.
	restCfg.QPS, restCfg.Burst = 50, 100
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return err
	}
	clusterCA, err := os.ReadFile(cfg.ClusterCAFile)
	if err != nil {
		return fmt.Errorf("clusterCAFile: %w", err)
	}
	alloc, err := ipam.New(cfg.PodCIDR, net.ParseIP(cfg.GatewayIP))
	if err != nil {
		return err
	}

	podFactory := informers.NewSharedInformerFactoryWithOptions(client, time.Minute, nodeutil.PodInformerFilter(cfg.NodeName))
	podInformer := podFactory.Core().V1().Pods()
	idle := informers.NewSharedInformerFactory(client, 0) // never started, see above

	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&corev1client.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: cfg.NodeName})

	allocatable := cfg.ResourceList()
	objects := apiObjects{client: client}
	deps := &pod.Deps{
		Config:  cfg,
		Images:  images.Table(cfg.Images),
		IPAM:    alloc,
		Objects: objects,
		Volumes: &volumes.Materializer{
			StateDir: cfg.StateDir, ClusterCA: clusterCA, Objects: objects,
			Tokens: tokens{client: client}, Allocatable: allocatable,
		},
		Pods:        podInformer.Lister(),
		Recorder:    recorder,
		Log:         log,
		Allocatable: allocatable,
		DeleteFromAPI: provider.DeleteFromAPI(func(ctx context.Context, ns, name string, opts metav1.DeleteOptions) error {
			return client.CoreV1().Pods(ns).Delete(ctx, name, opts)
		}),
	}
	prov := provider.New(deps)
	defer prov.Shutdown(shutdownGrace)

	existing, err := listNodePods(ctx, client, cfg.NodeName, log)
	if err != nil {
		return err
	}
	prov.Recover(ctx, existing)

	pc, err := node.NewPodController(node.PodControllerConfig{
		PodClient:                 client.CoreV1(),
		PodInformer:               podInformer,
		EventRecorder:             recorder,
		Provider:                  prov,
		ConfigMapInformer:         idle.Core().V1().ConfigMaps(),
		SecretInformer:            idle.Core().V1().Secrets(),
		ServiceInformer:           idle.Core().V1().Services(),
		SkipDownwardAPIResolution: true, // env is resolved at container start, when status.podIP is known
	})
	if err != nil {
		return err
	}
	nc, err := node.NewNodeController(node.NaiveNodeProvider{}, nodeObject(cfg), client.CoreV1().Nodes(),
		node.WithNodeEnableLeaseV1(nodeutil.NodeLeaseV1Client(client), node.DefaultLeaseDuration))
	if err != nil {
		return err
	}

	srv, err := kubeletServer(cfg, prov, podInformer.Lister().List)
	if err != nil {
		return err
	}
	defer srv.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	podFactory.Start(ctx.Done())
	go func() { _ = pc.Run(ctx, 2) }()
	select {
	case <-pc.Ready():
	case <-pc.Done():
		return fmt.Errorf("pod controller: %w", pc.Err())
	case <-ctx.Done():
		return nil
	}
	go func() { _ = nc.Run(ctx) }()
	select {
	case <-nc.Ready():
	case <-nc.Done():
		return fmt.Errorf("node controller: %w", nc.Err())
	case <-ctx.Done():
		return nil
	}
	log.Info("node ready", "kubeletAPI", srv.Addr)
	go prov.GarbageCollect(ctx, time.Minute)

	select {
	case <-ctx.Done():
		log.Info("shutting down: stopping all pods")
		return nil
	case <-pc.Done():
		return fmt.Errorf("pod controller stopped: %w", pc.Err())
	case <-nc.Done():
		return fmt.Errorf("node controller stopped: %w", nc.Err())
	}
}

// listNodePods lists this node's pods for recovery, waiting for the API
// server if it is not up yet.
func listNodePods(ctx context.Context, client kubernetes.Interface, nodeName string, log *slog.Logger) ([]*corev1.Pod, error) {
	opts := metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", nodeName).String()}
	for {
		list, err := client.CoreV1().Pods("").List(ctx, opts)
		if err == nil {
			out := make([]*corev1.Pod, len(list.Items))
			for i := range list.Items {
				out[i] = &list.Items[i]
			}
			return out, nil
		}
		log.Warn("listing this node's pods failed, retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// kubeletServer serves the kubelet API subset the API server uses: logs,
// exec and the pod list. Only clients with a certificate from the client
// CA (the API server's kubelet client cert) get in.
func kubeletServer(cfg *config.Config, prov *provider.Provider, list func(labels.Selector) ([]*corev1.Pod, error)) (*http.Server, error) {
	cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if err := nodeutil.WithCAFromPath(cfg.ClientCAFile)(tlsCfg); err != nil {
		return nil, err
	}
	handler := api.PodHandler(api.PodHandlerConfig{
		GetContainerLogs: prov.GetContainerLogs,
		RunInContainer:   prov.RunInContainer,
		GetPods:          prov.GetPods,
		GetPodsFromKubernetes: func(context.Context) ([]*corev1.Pod, error) {
			return list(labels.Everything())
		},
	}, false)
	addr := net.JoinHostPort(cfg.ListenAddress, strconv.Itoa(int(cfg.ListenPort)))
	l, err := tls.Listen("tcp", addr, tlsCfg)
	if err != nil {
		return nil, fmt.Errorf("kubelet API listener: %w", err)
	}
	srv := &http.Server{Addr: addr, Handler: handler, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return srv, nil
}
