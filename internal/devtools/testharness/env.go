package testharness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
)

// Loopback ranges the control plane uses (DESIGN.md §5).
const (
	ServiceCIDR = "127.100.0.0/16"
	KwokCIDR    = "127.101.0.1/16"
	KwokNodeIP  = "127.101.0.1"
)

// Options configure a control plane.
type Options struct {
	// Kwok also starts kube-controller-manager, kube-scheduler and kwok, with Nodes fake nodes, so
	// Deployments, DaemonSets, StatefulSets and Jobs run and their Pods become Ready.
	Kwok bool
	// Nodes is the number of fake nodes (default 1 when Kwok is set).
	Nodes int
	// APIServerFlags are extra kube-apiserver flags.
	APIServerFlags map[string]string
	// NoCRDs starts without the operator's CRDs (tests that install them, e.g. from the Helm chart).
	NoCRDs bool
	// Logs receives the output of the control-plane processes (default: discarded; set
	// CASTWARE_TEST_LOGS=1 to see it on stderr).
	Logs io.Writer
}

// Env is a running control plane.
type Env struct {
	// Config is an admin rest config (system:masters).
	Config *rest.Config
	// Client is an admin client with the castware scheme.
	Client client.Client
	// Scheme holds client-go's and castware's types.
	Scheme *kruntime.Scheme
	// KubeconfigPath is a kubeconfig file for the admin user (for helm, kubectl, kwok, ...).
	KubeconfigPath string
	// BinDir holds the test binaries.
	BinDir string
	// Dir is a scratch directory removed on Stop.
	Dir string

	env    *envtest.Environment
	procs  []*exec.Cmd
	mu     sync.Mutex
	reaper *reaper
}

// RepoRoot returns the repository root (found from this source file).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// BinDir returns where the test binaries are: $KUBEBUILDER_ASSETS, else ~/.cache/k8s-testbin.
func BinDir() string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d
	}
	if d := os.Getenv("K8S_TESTBIN_DIR"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "k8s-testbin")
}

// NewScheme returns a scheme with client-go's and castware's types.
func NewScheme() *kruntime.Scheme {
	s := kruntime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = castwarev1.AddToScheme(s)
	return s
}

// Start starts a control plane. Call Stop when done (it is safe to call more than once).
func Start(opts Options) (*Env, error) {
	bin := BinDir()
	for _, b := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return nil, fmt.Errorf("test binary %s missing in %s: run `make testbin` first", b, bin)
		}
	}
	rp, err := getReaper()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "castware-env-")
	if err != nil {
		return nil, err
	}
	logs := opts.Logs
	if logs == nil {
		logs = io.Discard
		if os.Getenv("CASTWARE_TEST_LOGS") == "1" {
			logs = os.Stderr
		}
	}
	e := &Env{BinDir: bin, Dir: dir, Scheme: NewScheme(), reaper: rp}
	e.env = &envtest.Environment{
		BinaryAssetsDirectory: bin,
		CRDInstallOptions:     envtest.CRDInstallOptions{Paths: []string{filepath.Join(RepoRoot(), "config", "crd", "bases")}, ErrorIfPathMissing: true},
		Scheme:                e.Scheme,
	}
	if opts.NoCRDs {
		e.env.CRDInstallOptions = envtest.CRDInstallOptions{}
	}
	api := e.env.ControlPlane.GetAPIServer()
	api.Out, api.Err = logs, logs
	api.Configure().Set("service-cluster-ip-range", ServiceCIDR)
	for k, v := range opts.APIServerFlags {
		api.Configure().Set(k, v)
	}
	cfg, err := e.env.Start()
	rp.trackChildrenNamed("etcd", "kube-apiserver")
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start envtest: %w", err)
	}
	e.Config = cfg
	if e.Client, err = client.New(cfg, client.Options{Scheme: e.Scheme}); err != nil {
		_ = e.Stop()
		return nil, err
	}
	user, err := e.env.ControlPlane.AddUser(envtest.User{Name: "harness-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		_ = e.Stop()
		return nil, err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		_ = e.Stop()
		return nil, err
	}
	e.KubeconfigPath = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(e.KubeconfigPath, kc, 0o600); err != nil {
		_ = e.Stop()
		return nil, err
	}
	if opts.Kwok {
		if err := e.startKwok(opts, logs); err != nil {
			_ = e.Stop()
			return nil, err
		}
	}
	return e, nil
}

func (e *Env) startKwok(opts Options, logs io.Writer) error {
	kc := "--kubeconfig=" + e.KubeconfigPath
	if err := e.StartProcess(logs, filepath.Join(e.BinDir, "kube-controller-manager"), kc, "--leader-elect=false", "--secure-port=0",
		"--concurrent-deployment-syncs=5"); err != nil {
		return err
	}
	if err := e.StartProcess(logs, filepath.Join(e.BinDir, "kube-scheduler"), kc, "--leader-elect=false", "--secure-port=0"); err != nil {
		return err
	}
	if err := e.StartProcess(logs, filepath.Join(e.BinDir, "kwok"), "--config="+filepath.Join(e.BinDir, "kwok-stages.yaml"), kc,
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--cidr="+KwokCIDR, "--node-ip="+KwokNodeIP, "--node-lease-duration-seconds=40", "--server-address=127.0.0.1:0"); err != nil {
		return err
	}
	n := opts.Nodes
	if n == 0 {
		n = 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := 0; i < n; i++ {
		if err := e.AddNode(ctx, fmt.Sprintf("kwok-node-%d", i), nil); err != nil {
			return err
		}
	}
	return nil
}

// AddNode creates a fake node kwok manages, with the given extra labels, and waits until it is Ready.
func (e *Env) AddNode(ctx context.Context, name string, labels map[string]string) error {
	lbls := map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok"}
	for k, v := range labels {
		lbls[k] = v
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("250"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls, Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"}},
		Status:     corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	if err := e.Client.Create(ctx, node); err != nil {
		return fmt.Errorf("create node %s: %w", name, err)
	}
	return Poll(ctx, 100*time.Millisecond, func() error {
		n := &corev1.Node{}
		if err := e.Client.Get(ctx, client.ObjectKey{Name: name}, n); err != nil {
			return err
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("node %s not Ready yet", name)
	})
}

// StartProcess starts a helper binary that is killed on Stop, and by the reaper if the test binary dies.
func (e *Env) StartProcess(logs io.Writer, path string, args ...string) error {
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", filepath.Base(path), err)
	}
	e.reaper.track(cmd.Process.Pid)
	e.mu.Lock()
	e.procs = append(e.procs, cmd)
	e.mu.Unlock()
	go func() { _ = cmd.Wait() }()
	return nil
}

// Stop stops every process the Env started and removes its scratch directory.
func (e *Env) Stop() error {
	e.mu.Lock()
	procs := e.procs
	e.procs = nil
	e.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		if p.Process != nil {
			_ = p.Process.Kill()
			e.reaper.untrack(p.Process.Pid)
		}
	}
	var err error
	if e.env != nil {
		pids := childPIDs()
		err = e.env.Stop()
		for _, p := range pids {
			e.reaper.untrack(p)
		}
		e.env = nil
	}
	_ = os.RemoveAll(e.Dir)
	return err
}

// Poll calls fn every interval until it returns nil or ctx ends; it then returns the last error.
func Poll(ctx context.Context, interval time.Duration, fn func() error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last error
	for {
		if last = fn(); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-t.C:
		}
	}
}

// ErrNotYet is a convenience error for Poll conditions.
var ErrNotYet = errors.New("not yet")

// AddUser creates a user of the control plane (a client certificate) in groups and writes its kubeconfig;
// it returns the kubeconfig's path. Requests of that user carry its name in audit logs.
func (e *Env) AddUser(name string, groups ...string) (string, error) {
	u, err := e.env.ControlPlane.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return "", fmt.Errorf("add user %s: %w", name, err)
	}
	kc, err := u.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(e.Dir, "kubeconfig-"+name)
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		return "", err
	}
	return path, nil
}
