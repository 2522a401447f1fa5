package charts

import (
	"fmt"
	"io"
	"testing"

	"helm.sh/helm/v3/pkg/registry"
)

// pushArchive pushes archive (and prov, when not nil) as repoPath/name:version and returns the manifest digest.
func (r *testRegistry) pushArchive(t testing.TB, repoPath, name, version string, archive, prov []byte) string {
	t.Helper()
	c, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptWriter(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	var opts []registry.PushOption
	if prov != nil {
		opts = append(opts, registry.PushOptProvData(prov))
	}
	res, err := c.Push(archive, fmt.Sprintf("%s/%s/%s:%s", r.host(), repoPath, name, version), opts...)
	if err != nil {
		t.Fatalf("push %s:%s: %v", name, version, err)
	}
	return res.Manifest.Digest
}

// TestOCITagPinned: once a version resolved to a manifest digest, the same tag re-pushed with other content
// is refused; an explicit pin accepts the digest it names and refuses any other.
func TestOCITagPinned(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t)
	first := reg.pushArchive(t, "charts", "app", "1.0.0", packChart(t, "app", "1.0.0"), nil)
	clock := newFakeClock()
	l := NewLoader(WithClock(clock.Now))
	repo := "oci://" + reg.host() + "/charts"
	load := func(version string) error { return loadErr(l, Ref{Repo: repo, Name: "app", Version: version}) }

	checkErr(t, load("1.0.0"), nil)
	checkErr(t, load("1.0.0@"+first), nil)
	moved := reg.pushArchive(t, "charts", "app", "1.0.0", packVariant(t, "app", "1.0.0"), nil)
	if moved == first {
		t.Fatal("the re-pushed chart has the same manifest digest")
	}
	clock.Advance(DefaultIndexTTL)
	tag := reg.host() + "/charts/app:1.0.0"
	checkErr(t, load("1.0.0"), ErrDigestMismatch, "tag "+tag+" moved from "+first+" to "+moved)
	checkErr(t, load("1.0.0@"+first), ErrDigestMismatch, "pinned to "+first+" but the registry resolves it to "+moved)
	checkErr(t, load("1.0.0@"+moved), nil)
	checkErr(t, load("1.0.0"), nil) // the explicit pin accepted the new digest

	for _, bad := range []string{"1.0.0@sha256:abc", "1.0.0@md5:" + moved[7:], "@" + moved} {
		checkErr(t, load(bad), ErrInvalidRef, "@sha256:<64 hex digits>")
	}
}

func TestPinOnlyForOCI(t *testing.T) {
	t.Parallel()
	s := newRepoServer(t)
	pin := "1.0.0@sha256:" + digestOf([]byte("x"))
	checkErr(t, loadErr(NewLoader(), Ref{Repo: s.URL(), Name: "app", Version: pin}), ErrInvalidRef, "OCI registries only")
	checkErr(t, loadErr(NewLoader(), Ref{Repo: t.TempDir(), Name: "app", Version: pin}), ErrInvalidRef, "OCI registries only")
}

func TestProvenanceOCI(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t)
	signer := newSigningKey(t, "signer")
	signed := packChart(t, "app", "1.0.0")
	reg.pushArchive(t, "charts", "app", "1.0.0", signed, signArchive(t, signer, "app", "1.0.0", signed))
	reg.pushArchive(t, "charts", "app", "1.1.0", packChart(t, "app", "1.1.0"), nil)
	l := NewLoader()
	ref := Ref{Repo: "oci://" + reg.host() + "/charts", Name: "app", Version: "1.0.0", Keyring: publicKeyring(t, signer)}
	checkErr(t, loadErr(l, ref), nil)
	ref.Version = "1.1.0"
	checkErr(t, loadErr(l, ref), ErrProvenance, "no provenance layer for app-1.1.0.tgz")
}
