// Package subcmd holds the operator binary's subcommands besides the default run: what the operator
// chart's hook Jobs execute (crd-apply, preflight, cleanup) and the manual trigger of a self-upgrade
// (upgrade). Each parses its flags and calls the package that holds its logic.
package subcmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/client/config"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/helm"
	"github.com/castware-operator/castware-operator/internal/lifecycle/cleanup"
	"github.com/castware-operator/castware-operator/internal/lifecycle/crds"
	"github.com/castware-operator/castware-operator/internal/lifecycle/preflight"
	"github.com/castware-operator/castware-operator/internal/selfupgrade"
)

// ConfigFunc returns the Kubernetes client configuration a subcommand uses.
type ConfigFunc func() (*rest.Config, error)

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, out io.Writer, cfg ConfigFunc) error
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"crd-apply": {"apply the operator's CRDs server-side (the chart's CRD-upgrade hook)", runCRDApply},
		"preflight": {"pre-install/upgrade checks (the charts' preflight hooks)", runPreflight},
		"cleanup":   {"remove the operator's Clusters, Components and CRDs, leaving components running (the chart's pre-delete hook)", runCleanup},
		"upgrade":   {"ask the running operator to upgrade its own Helm release", runUpgrade},
	}
}

// Is reports whether name is a subcommand.
func Is(name string) bool {
	_, ok := commands[name]
	return ok
}

// Names lists the subcommands, sorted.
func Names() []string {
	out := make([]string, 0, len(commands))
	for n := range commands {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Main runs subcommand name with args and returns the exit code: 0 on success, 1 on failure, 2 on a
// usage error.
func Main(name string, args []string) int {
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown subcommand %q (one of %s)\n", name, strings.Join(Names(), ", "))
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := cmd.run(ctx, args, os.Stdout, config.GetConfig)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 2
	default:
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
}

var errUsage = errors.New("usage")

// Run runs subcommand name with args exactly as Main does, with the given client configuration and
// output; tests run hook Jobs' arguments through it.
func Run(ctx context.Context, name string, args []string, out io.Writer, cfg ConfigFunc) error {
	cmd, ok := commands[name]
	if !ok {
		return fmt.Errorf("%w: unknown subcommand %q", errUsage, name)
	}
	return cmd.run(ctx, args, out, cfg)
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: castware-operator %s [flags]\n\n%s.\n\n", name, commands[name].summary)
		fs.PrintDefaults()
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %v", errUsage, fs.Args())
	}
	return nil
}

func newClient(getConfig ConfigFunc) (client.Client, error) {
	cfg, err := getConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes config: %w", err)
	}
	return client.New(cfg, client.Options{Scheme: cleanup.NewScheme()})
}

func defaultNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	return "castai-agent"
}

func runCRDApply(ctx context.Context, args []string, out io.Writer, getConfig ConfigFunc) error {
	fs := newFlags("crd-apply")
	dir := fs.String("dir", "", "directory of CRD YAML files (the hook mounts the chart's crds/ there)")
	timeout := fs.Duration("timeout", crds.DefaultTimeout, "how long to wait for the CRDs to be established")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("%w: --dir is required", errUsage)
	}
	list, err := crds.LoadDir(*dir)
	if err != nil {
		return err
	}
	c, err := newClient(getConfig)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	return crds.Apply(ctx, c, list, out)
}

func runCleanup(ctx context.Context, args []string, out io.Writer, getConfig ConfigFunc) error {
	fs := newFlags("cleanup")
	opts := cleanup.Options{Out: out}
	fs.StringVar(&opts.Namespace, "namespace", defaultNamespace(), "the operator's namespace")
	fs.BoolVar(&opts.DeleteCRDs, "delete-crds", false, "delete the CRDs too (kept while other namespaces hold Clusters or Components)")
	timeout := fs.Duration("timeout", 4*time.Minute, "give up after this long")
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := newClient(getConfig)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	_, err = cleanup.Run(ctx, c, opts)
	return err
}

func runPreflight(ctx context.Context, args []string, out io.Writer, getConfig ConfigFunc) error {
	fs := newFlags("preflight")
	check := fs.String("check", "", "extended-permissions (operator chart, pre-upgrade) or operator-ready (castware-components chart)")
	ns := fs.String("namespace", defaultNamespace(), "namespace of the operator's release")
	rel := fs.String("release", os.Getenv("HELM_RELEASE_NAME"), "the operator's Helm release (extended-permissions)")
	want := fs.Bool("extended-permissions", false, "the extendedPermissions value being installed (extended-permissions)")
	deployment := fs.String("deployment", "castware-operator", "the operator's Deployment (operator-ready)")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *check != "extended-permissions" && *check != "operator-ready" {
		return fmt.Errorf("%w: --check must be extended-permissions or operator-ready", errUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c, err := newClient(getConfig)
	if err != nil {
		return err
	}
	switch *check {
	case "extended-permissions":
		if *rel == "" {
			return fmt.Errorf("%w: --release is required", errUsage)
		}
		cfg, err := getConfig()
		if err != nil {
			return err
		}
		hist, err := helm.History(ctx, cfg, *ns, *rel)
		if err != nil {
			return err
		}
		prev, err := preflight.PreviousExtended(ctx, c, *ns, *rel, hist)
		if err != nil {
			return err
		}
		if err := preflight.CheckExtendedPermissions(prev, *want, *rel, *ns); err != nil {
			return err
		}
		fmt.Fprintf(out, "extendedPermissions: previously %t (%s), now %t: ok\n", prev.Extended, prev.Source, *want)
		return nil
	case "operator-ready":
		if err := (preflight.OperatorReady{Namespace: *ns, Deployment: *deployment}).Wait(ctx, c); err != nil {
			return err
		}
		fmt.Fprintf(out, "deployment %s/%s has a Ready pod\n", *ns, *deployment)
		return nil
	default:
		return fmt.Errorf("%w: --check must be extended-permissions or operator-ready", errUsage)
	}
}

func runUpgrade(ctx context.Context, args []string, out io.Writer, getConfig ConfigFunc) error {
	fs := newFlags("upgrade")
	ns := fs.String("namespace", defaultNamespace(), "the operator's namespace")
	clusterName := fs.String("cluster", "castai", "the Cluster resource")
	version := fs.String("version", "", "chart version to upgrade to (required)")
	rel := fs.String("release", envOr("HELM_RELEASE_NAME", "castware-operator"), "the operator's Helm release")
	wait := fs.Duration("wait", 0, "wait up to this long for the upgrade to finish (0: return once requested)")
	rollback := fs.Bool("rollback", false, "an explicit rollback: --version may be lower than the running chart version (refused otherwise)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *version == "" {
		return fmt.Errorf("%w: --version is required", errUsage)
	}
	cfg, err := getConfig()
	if err != nil {
		return err
	}
	c, err := newClient(getConfig)
	if err != nil {
		return err
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return err
	}
	engine, err := helm.New(cfg, mapper, c, c)
	if err != nil {
		return err
	}
	u := selfupgrade.New(c, c, engine, nil, nil, selfupgrade.Options{Namespace: *ns, ReleaseName: *rel})
	cl := &castwarev1.Cluster{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: *ns, Name: *clusterName}, cl); err != nil {
		return fmt.Errorf("read cluster %s/%s: %w", *ns, *clusterName, err)
	}
	request := u.Request
	if *rollback {
		request = u.RequestRollback
	}
	if err := request(ctx, cl, *version, ""); err != nil {
		return err
	}
	fmt.Fprintf(out, "upgrade of %s to %s requested; the operator's leader runs it (kubectl get cluster %s -n %s -o jsonpath='{.status.operatorUpgrade}')\n", *rel, *version, *clusterName, *ns)
	if *wait == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	for {
		if err := c.Get(ctx, client.ObjectKeyFromObject(cl), cl); err != nil {
			return err
		}
		if st := cl.Status.OperatorUpgrade; st != nil && !selfupgrade.Active(st.Phase) {
			fmt.Fprintf(out, "%s: %s\n", st.Phase, st.Message)
			if st.Phase != castwarev1.OperatorUpgradeSucceeded {
				return fmt.Errorf("upgrade %s", strings.ToLower(string(st.Phase)))
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("upgrade still running: %w", ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
