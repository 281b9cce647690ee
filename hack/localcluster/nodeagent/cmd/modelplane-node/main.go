// Command modelplane-node is the local cluster's process node agent: a
// virtual-kubelet node whose pods run as real processes on this machine,
// each pod in its own network namespace.
//
//	modelplane-node run --config /abs/path/config.json
//
// It must run as root in the host network namespace. The pod-exec
// subcommand is internal: the agent re-executes itself with it to enter a
// pod's namespaces before exec'ing a container command.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	vklog "github.com/virtual-kubelet/virtual-kubelet/log"
	vkslog "github.com/virtual-kubelet/virtual-kubelet/log/slog"

	"modelplane.io/localcluster/nodeagent/internal/agent"
	"modelplane.io/localcluster/nodeagent/internal/config"
	"modelplane.io/localcluster/nodeagent/internal/podexec"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == podexec.Subcommand {
		os.Exit(podexec.Child())
	}
	if len(os.Args) < 2 || os.Args[1] != "run" {
		fmt.Fprintln(os.Stderr, "usage: modelplane-node run --config /abs/path/config.json")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	configPath := fs.String("config", "", "path of the node's JSON config (required)")
	verbose := fs.Bool("v", false, "debug logging")
	_ = fs.Parse(os.Args[2:])
	if *configPath == "" {
		fs.Usage()
		os.Exit(2)
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	vklog.L = vkslog.FromSlog(logger)

	cfg, err := config.Load(*configPath)
	if err != nil {
		logger.Error("config", "err", err)
		os.Exit(1)
	}
	logger = logger.With("node", cfg.NodeName)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := agent.Run(ctx, cfg, logger); err != nil {
		logger.Error("node agent failed", "err", err)
		os.Exit(1)
	}
}
