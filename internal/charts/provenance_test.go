package charts

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/provenance"
)

// newSigningKey generates a throwaway OpenPGP key (Ed25519, so it is quick).
func newSigningKey(t testing.TB, name string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "test", name+"@example.com", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// publicKeyring returns the binary public keyring of e, as gpg --export writes it.
func publicKeyring(t testing.TB, e *openpgp.Entity) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := e.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// signArchive writes archive as name-version.tgz and returns the .prov Helm's Signatory makes for it.
func signArchive(t testing.TB, e *openpgp.Entity, name, version string, archive []byte) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+"-"+version+".tgz")
	if err := os.WriteFile(path, archive, 0o600); err != nil {
		t.Fatal(err)
	}
	sig, err := (&provenance.Signatory{Entity: e}).ClearSign(path)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(sig)
}

// packVariant packages chart name-version with different values, so its archive differs from packChart's.
func packVariant(t testing.TB, name, version string) []byte {
	t.Helper()
	ch := testChart(name, version)
	ch.Raw[0].Data = []byte("replicas: 99\n")
	return packChartFrom(t, ch)
}

func TestProvenanceHTTP(t *testing.T) {
	t.Parallel()
	signer, stranger := newSigningKey(t, "signer"), newSigningKey(t, "stranger")
	ring := publicKeyring(t, signer)
	good := packChart(t, "app", "1.0.0")
	swapped := packVariant(t, "app", "1.0.0")

	tests := []struct {
		name    string
		archive []byte
		prov    []byte // nil: no .prov
		keyring []byte
		wantErr error
		wantMsg string
	}{
		{name: "valid", archive: good, prov: signArchive(t, signer, "app", "1.0.0", good), keyring: ring},
		{name: "armoured keyring", archive: good, prov: signArchive(t, signer, "app", "1.0.0", good), keyring: armored(t, signer)},
		{name: "no .prov", archive: good, keyring: ring, wantErr: ErrProvenance, wantMsg: "no provenance file for app-1.0.0.tgz"},
		{name: "signed by another key", archive: good, prov: signArchive(t, stranger, "app", "1.0.0", good), keyring: ring,
			wantErr: ErrProvenance, wantMsg: "signed by a key that is not in the keyring"},
		{name: "archive swapped after signing", archive: swapped, prov: signArchive(t, signer, "app", "1.0.0", good), keyring: ring,
			wantErr: ErrProvenance, wantMsg: "announces sha256:" + digestOf(good) + " for app-1.0.0.tgz but the archive has sha256:" + digestOf(swapped)},
		{name: "tampered signature", archive: good, prov: tamper(signArchive(t, signer, "app", "1.0.0", good)), keyring: ring,
			wantErr: ErrProvenance, wantMsg: "bad signature"},
		{name: "keyring without keys", archive: good, prov: signArchive(t, signer, "app", "1.0.0", good), keyring: []byte("not a keyring"),
			wantErr: ErrProvenance, wantMsg: "keyring"},
		{name: "no keyring: no verification", archive: good},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newRepoServer(t)
			s.set("/app-1.0.0.tgz", tc.archive)
			if tc.prov != nil {
				s.set("/app-1.0.0.tgz.prov", tc.prov)
			}
			s.set("/index.yaml", indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "app-1.0.0.tgz", digest: digestOf(tc.archive)}))
			got, err := NewLoader().Load(context.Background(), Ref{Repo: s.URL(), Name: "app", Version: "1.0.0", Keyring: tc.keyring})
			checkErr(t, err, tc.wantErr, `chart "app" version "1.0.0"`, tc.wantMsg)
			if err == nil && got.Digest != digestOf(tc.archive) {
				t.Fatalf("digest = %s, want %s", got.Digest, digestOf(tc.archive))
			}
		})
	}
}

// TestProvenanceCacheIsPerKeyring: an archive cached by an unverified load is not served to a verifying
// caller, and one verified against a keyring is not served to a caller with another keyring.
func TestProvenanceCacheIsPerKeyring(t *testing.T) {
	t.Parallel()
	signer := newSigningKey(t, "signer")
	data := packChart(t, "app", "1.0.0")
	s := newRepoServer(t)
	s.set("/app-1.0.0.tgz", data)
	s.set("/index.yaml", indexYAML(idxEntry{chart: "app", version: "1.0.0", url: "app-1.0.0.tgz", digest: digestOf(data)}))
	l := NewLoader()
	ref := Ref{Repo: s.URL(), Name: "app", Version: "1.0.0"}
	if _, err := l.Load(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
	ref.Keyring = publicKeyring(t, signer)
	_, err := l.Load(context.Background(), ref)
	checkErr(t, err, ErrProvenance, "no provenance file")

	s.set("/app-1.0.0.tgz.prov", signArchive(t, signer, "app", "1.0.0", data))
	checkErr(t, loadErr(l, ref), nil)
	ref.Keyring = publicKeyring(t, newSigningKey(t, "other"))
	checkErr(t, loadErr(l, ref), ErrProvenance, "not in the keyring")
}

func TestProvenanceLocal(t *testing.T) {
	t.Parallel()
	signer := newSigningKey(t, "signer")
	ring := publicKeyring(t, signer)
	data := packChart(t, "app", "1.0.0")
	dir := t.TempDir()
	archive := filepath.Join(dir, "app-1.0.0.tgz")
	if err := os.WriteFile(archive, data, 0o600); err != nil {
		t.Fatal(err)
	}
	l := NewLoader()
	ref := Ref{Repo: dir, Name: "app", Version: "1.0.0", Keyring: ring}
	checkErr(t, loadErr(l, ref), ErrProvenance, "no provenance file next to")
	if err := os.WriteFile(archive+".prov", signArchive(t, signer, "app", "1.0.0", data), 0o600); err != nil {
		t.Fatal(err)
	}
	checkErr(t, loadErr(l, ref), nil)
	checkErr(t, loadErr(l, Ref{Repo: archive, Name: "app", Keyring: ring}), nil)

	unpacked := t.TempDir()
	if err := chartutil.SaveDir(testChart("app", "1.0.0"), unpacked); err != nil {
		t.Fatal(err)
	}
	checkErr(t, loadErr(l, Ref{Repo: unpacked, Name: "app", Version: "1.0.0", Keyring: ring}), ErrProvenance, "unpacked")
}

func TestVerifyingSource(t *testing.T) {
	t.Parallel()
	var seen []byte
	src := Verifying(sourceFunc(func(ref Ref) { seen = ref.Keyring }), []byte("ring"))
	_, _ = src.Load(context.Background(), Ref{Name: "app"})
	if string(seen) != "ring" {
		t.Fatalf("keyring passed = %q", seen)
	}
	if plain := Verifying(sourceFunc(nil), nil); plain == nil {
		t.Fatal("Verifying(src, nil) = nil")
	}
}

type sourceFunc func(Ref)

func (f sourceFunc) Load(_ context.Context, ref Ref) (*Loaded, error) { f(ref); return nil, nil }
func (f sourceFunc) Latest(context.Context, string, string) (string, error) {
	return "", nil
}

func loadErr(l *Loader, ref Ref) error {
	_, err := l.Load(context.Background(), ref)
	return err
}

// armored returns e's public key ASCII-armoured (gpg --export --armor).
func armored(t testing.TB, e *openpgp.Entity) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// tamper changes the signed Chart.yaml text of a .prov without re-signing it.
func tamper(prov []byte) []byte {
	return []byte(strings.Replace(string(prov), "description: test chart", "description: evil chart", 1))
}
