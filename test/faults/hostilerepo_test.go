package faults

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	chartsrc "github.com/castware-operator/castware-operator/internal/charts"
	"github.com/castware-operator/castware-operator/internal/devtools/testharness"
)

// Hostile chart repositories (issue 13 §3, bounded parsing). hooked runs 0.1.0 from the suite's repository;
// then the Cluster is pointed at a repository the case controls and the Component asked for 0.2.0, which that
// repository serves in a hostile form. Each case asserts a clear Progressing=False condition, the running
// release untouched, no crash, and the operator's peak resident memory (VmHWM, sampled every 50 ms besides)
// well under the memory limit the operator's chart gives its pod (the process runs with
// CONTAINER_MEMORY_LIMIT set from that limit, as the chart sets it).

// hostileCase is one hostile repository: serve fills it (or returns a local path to use instead) and want is
// what the condition must say.
type hostileCase struct {
	name  string
	fault string
	serve func(t *testing.T, repo *hostileRepo) (repoURL string)
	want  string
}

func TestHostileRepositories(t *testing.T) {
	limit := operatorMemoryLimit(t)
	for _, tc := range []hostileCase{
		{name: "oversized-index", fault: fmt.Sprintf("an index.yaml of %d MiB (the cap is %d MiB)", (chartsrc.DefaultMaxIndexBytes+(1<<20))>>20, chartsrc.DefaultMaxIndexBytes>>20),
			serve: func(t *testing.T, r *hostileRepo) string {
				r.set("/index.yaml", oversizedIndex(t, chartsrc.DefaultMaxIndexBytes+(1<<20)))
				return r.URL()
			}, want: "larger than"},
		{name: "bomb", fault: "a decompression bomb: a 0.2.0 archive unpacking to 80 MiB of zeros (16 files of 5 MiB; under Helm's own 100 MiB bound)",
			serve: func(t *testing.T, r *hostileRepo) string {
				r.publish(t, "test-hooks-0.2.0.tgz", bombArchive(t, 16), "")
				return r.URL()
			}, want: fmt.Sprintf("unpacks to more than %d bytes", chartsrc.DefaultMaxChartBytes)},
		{name: "symlink-archive", fault: "a 0.2.0 archive holding templates/leak.yaml as a symbolic link to /etc/passwd",
			serve: func(t *testing.T, r *hostileRepo) string {
				r.publish(t, "test-hooks-0.2.0.tgz", symlinkArchive(t), "")
				return r.URL()
			}, want: "is a link"},
		{name: "other-host", fault: "an index whose 0.2.0 archive URL is plain http on another host (127.0.0.2)",
			serve: func(t *testing.T, r *hostileRepo) string {
				other := newHostileRepo(t, "127.0.0.2")
				data := packTestHooks(t, "0.2.0")
				other.set("/test-hooks-0.2.0.tgz", data)
				r.publish(t, "test-hooks-0.2.0.tgz", data, other.URL()+"/test-hooks-0.2.0.tgz")
				t.Cleanup(func() {
					if n := other.hits(); n != 0 {
						t.Errorf("the other host was asked %d times", n)
					}
				})
				return r.URL()
			}, want: "plain http on another host"},
		{name: "symlink-dir", fault: "a local chart directory whose 0.2.0 chart has templates/leak.yaml linking to a file outside the directory",
			serve: func(t *testing.T, _ *hostileRepo) string { return symlinkChartDir(t) }, want: "not confined"},
	} {
		t.Run(tc.name, func(t *testing.T) { runHostileRepo(t, tc, limit) })
	}
}

func runHostileRepo(t *testing.T, tc hostileCase, limit int64) {
	f := newFixture(t)
	f.createCluster()
	op := f.start("op-1", nil, fmt.Sprintf("CONTAINER_MEMORY_LIMIT=%d", limit))
	rss := sampleRSS(op.Pid())
	f.waitRegistered()
	f.createComponent("hooked", "0.1.0", nil)
	f.waitAvailable("hooked", "0.1.0", 2*time.Minute)
	image := f.image("hooked")

	repoURL := tc.serve(t, newHostileRepo(t, "127.0.0.1"))
	start := time.Now()
	f.patchCluster(func(c *castwarev1.Cluster) { c.Spec.HelmRepoURL = repoURL })
	f.patchComponent("hooked", func(c *castwarev1.Component) { c.Spec.Version = "0.2.0" })
	c := f.waitComponent("hooked", "a Progressing=False condition naming the refusal", 2*time.Minute, func(c *castwarev1.Component) error {
		p := condition(c.Status.Conditions, castwarev1.ConditionProgressing)
		if p.Status != metav1.ConditionFalse || p.ObservedGeneration != c.Generation || !strings.Contains(p.Message, tc.want) {
			return fmt.Errorf("Progressing %s/%s: %.200s", p.Status, p.Reason, p.Message)
		}
		return nil
	})
	converged := time.Since(start)
	peakRSS, hwm := rss.stop()

	if a := condition(c.Status.Conditions, castwarev1.ConditionAvailable); a.Status != metav1.ConditionTrue || c.Status.CurrentVersion != "0.1.0" {
		t.Fatalf("the running release was affected: %s", describe(c))
	}
	if h := f.assertReleaseSane("hooked"); len(h) != 1 || f.image("hooked") != image {
		t.Fatalf("release touched: %s, image %s", revs(h), f.image("hooked"))
	}
	f.assertNoCrash()
	if hwm <= 0 || hwm >= limit*3/4 {
		t.Fatalf("operator peak RSS (VmHWM) %d MiB, want under 75%% of the pod's %d MiB limit", hwm>>20, limit>>20)
	}
	p := condition(c.Status.Conditions, castwarev1.ConditionProgressing)
	record(t, catCharts, tc.fault,
		fmt.Sprintf("Progressing=False/%s: %.400s; the running 0.1.0 untouched (one revision, same image), no restart; operator peak RSS %d MiB (VmHWM; %d MiB sampled every 50 ms), %d%% of the chart's %d MiB memory limit",
			p.Reason, oneLine(p.Message), hwm>>20, peakRSS>>20, hwm*100/limit, limit>>20), converged)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// operatorMemoryLimit reads resources.limits.memory from the operator chart's values.yaml.
func operatorMemoryLimit(t *testing.T) int64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testharness.RepoRoot(), "helm-charts", "castware-operator", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Resources struct {
			Limits map[string]string `json:"limits"`
		} `json:"resources"`
	}
	if err := yaml.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	q, err := resource.ParseQuantity(v.Resources.Limits["memory"])
	if err != nil || q.Value() <= 0 {
		t.Fatalf("the operator chart's resources.limits.memory %q: %v", v.Resources.Limits["memory"], err)
	}
	return q.Value()
}

// patchCluster changes the Cluster's spec with an optimistic-lock merge patch.
func (f *fixture) patchCluster(mutate func(*castwarev1.Cluster)) {
	f.t.Helper()
	eventually(f.t, 10*time.Second, "patch the cluster", func() error {
		c := f.cluster()
		patch := client.MergeFromWithOptions(c.DeepCopy(), client.MergeFromWithOptimisticLock{})
		mutate(c)
		return k8s.Patch(context.Background(), c, patch)
	})
}

// rssSampler reads an operator process's VmRSS every 50 ms and its VmHWM (the kernel's own peak) at the end.
type rssSampler struct {
	pid  int
	done chan struct{}
	wg   sync.WaitGroup
	peak int64
}

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{pid: pid, done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if rss, _ := procStatus(pid, "VmRSS"); rss > s.peak {
				s.peak = rss
			}
			select {
			case <-s.done:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the highest VmRSS sampled and the process's VmHWM.
func (s *rssSampler) stop() (peakRSS, hwm int64) {
	close(s.done)
	s.wg.Wait()
	hwm, _ = procStatus(s.pid, "VmHWM")
	return s.peak, hwm
}

// procStatus reads a "<field>: <n> kB" line of /proc/<pid>/status, in bytes.
func procStatus(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) >= 2 && fs[0] == field+":" {
			kb, err := strconv.ParseInt(fs[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("%s not in /proc/%d/status", field, pid)
}

// hostileRepo is a chart repository on a loopback address that serves what the case gives it.
type hostileRepo struct {
	srv   *httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	n     int
	log   []repoRequest
}

// repoRequest is one request a hostileRepo answered.
type repoRequest struct {
	at   time.Time
	path string
}

func newHostileRepo(t *testing.T, ip string) *hostileRepo {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	r := &hostileRepo{files: map[string][]byte{}}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.n++
		r.log = append(r.log, repoRequest{at: time.Now(), path: req.URL.Path})
		data, ok := r.files[req.URL.Path]
		r.mu.Unlock()
		if !ok {
			http.NotFound(w, req)
			return
		}
		_, _ = w.Write(data)
	}))
	r.srv.Listener = ln
	r.srv.Start()
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hostileRepo) URL() string { return r.srv.URL }

func (r *hostileRepo) set(path string, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files[path] = data
}

// remove stops serving path (404).
func (r *hostileRepo) remove(path string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.files, path)
}

// times returns when path was requested, oldest first.
func (r *hostileRepo) times(path string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []time.Time
	for _, q := range r.log {
		if q.path == path {
			out = append(out, q.at)
		}
	}
	return out
}

func (r *hostileRepo) hits() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// publish serves an index listing test-hooks 0.1.0 (the real archive) and 0.2.0 (data, with its digest, at
// url; "" serves it from this repository as file).
func (r *hostileRepo) publish(t *testing.T, file string, data []byte, url string) {
	t.Helper()
	idx := chartsrc.NewIndexFile()
	v1 := packTestHooks(t, "0.1.0")
	r.set("/test-hooks-0.1.0.tgz", v1)
	add := func(version, u string, data []byte) {
		sum := sha256.Sum256(data)
		md := &chartsrc.Metadata{APIVersion: "v2", Name: "test-hooks", Version: version, AppVersion: "v" + version}
		if err := idx.MustAdd(md, u, "", hex.EncodeToString(sum[:])); err != nil {
			t.Fatal(err)
		}
	}
	add("0.1.0", "test-hooks-0.1.0.tgz", v1)
	if url == "" {
		r.set("/"+file, data)
		url = file
	}
	add("0.2.0", url, data)
	idx.SortEntries()
	out, err := yaml.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	r.set("/index.yaml", out)
}

// packTestHooks packages testdata/charts/test-hooks/<version> and returns the archive.
func packTestHooks(t *testing.T, version string) []byte {
	t.Helper()
	ch, err := loader.LoadDir(filepath.Join("testdata", "charts", "test-hooks", version))
	if err != nil {
		t.Fatal(err)
	}
	path, err := chartutil.Save(ch, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// oversizedIndex is a valid index.yaml of n bytes: a short index padded with a comment.
func oversizedIndex(t *testing.T, n int64) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("apiVersion: v1\nentries: {}\n")
	line := "# " + strings.Repeat("x", 1021) + "\n"
	for int64(b.Len()) < n {
		b.WriteString(line)
	}
	return b.Bytes()
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// writeArchive gzips a tar of test-hooks 0.2.0's Chart.yaml followed by what more writes.
func writeArchive(t *testing.T, more func(tw *tar.Writer) error) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	chartYAML := "apiVersion: v2\nname: test-hooks\nversion: 0.2.0\nappVersion: v0.2.0\n"
	if err := tw.WriteHeader(&tar.Header{Name: "test-hooks/Chart.yaml", Mode: 0o644, Size: int64(len(chartYAML)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(chartYAML)); err != nil {
		t.Fatal(err)
	}
	if err := more(tw); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bombArchive is a chart archive of n files of 5 MiB of zeros (each at Helm's per-file limit).
func bombArchive(t *testing.T, n int) []byte {
	return writeArchive(t, func(tw *tar.Writer) error {
		for i := 0; i < n; i++ {
			if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("test-hooks/files/zeros-%d", i), Mode: 0o644, Size: loader.MaxDecompressedFileSize, Typeflag: tar.TypeReg}); err != nil {
				return err
			}
			if _, err := io.CopyN(tw, zeros{}, loader.MaxDecompressedFileSize); err != nil {
				return err
			}
		}
		return nil
	})
}

// symlinkArchive is a chart archive whose template is a symbolic link out of the archive.
func symlinkArchive(t *testing.T) []byte {
	return writeArchive(t, func(tw *tar.Writer) error {
		return tw.WriteHeader(&tar.Header{Name: "test-hooks/templates/leak.yaml", Linkname: "/etc/passwd", Mode: 0o777, Typeflag: tar.TypeSymlink})
	})
}

// symlinkChartDir is a local chart directory with test-hooks 0.2.0 unpacked, its templates/leak.yaml a
// symbolic link to a ConfigMap manifest outside the directory carrying a secret.
func symlinkChartDir(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	root, outside := filepath.Join(base, "repo"), filepath.Join(base, "outside")
	ch, err := loader.LoadDir(filepath.Join("testdata", "charts", "test-hooks", "0.2.0"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := chartutil.SaveDir(ch, root); err != nil {
		t.Fatal(err)
	}
	leak := filepath.Join(outside, "leak.yaml")
	if err := os.WriteFile(leak, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak\ndata:\n  token: s3cr3t\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(leak, filepath.Join(root, "test-hooks", "templates", "leak.yaml")); err != nil {
		t.Fatal(err)
	}
	return root
}
