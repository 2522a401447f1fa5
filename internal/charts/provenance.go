package charts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"path"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"helm.sh/helm/v3/pkg/provenance"
	"sigs.k8s.io/yaml"
)

// ErrProvenance reports a chart whose provenance file (.prov) is missing or does not verify against the
// keyring the caller requires (see Ref.Keyring).
var ErrProvenance = errors.New("chart provenance not verified")

// maxProvBytes bounds a .prov file: Helm's hold one Chart.yaml and one checksum, a few KiB.
const maxProvBytes = 1 << 20

// Verifying returns a Source that loads every chart through src with ref.Keyring set to keyring, so each
// archive must come with a .prov that verifies against it. An empty keyring returns src unchanged.
func Verifying(src Source, keyring []byte) Source {
	if len(keyring) == 0 {
		return src
	}
	return verifyingSource{Source: src, keyring: keyring}
}

type verifyingSource struct {
	Source
	keyring []byte
}

// Load implements Source.
func (v verifyingSource) Load(ctx context.Context, ref Ref) (*Loaded, error) {
	ref.Keyring = v.keyring
	return v.Source.Load(ctx, ref)
}

// keyringID names a keyring in archive cache keys, so a copy verified against one keyring is never served
// to a caller that requires another, nor an unverified copy to a verifying caller.
func keyringID(keyring []byte) string {
	sum := sha256.Sum256(keyring)
	return "prov:" + hex.EncodeToString(sum[:]) + ":"
}

// readKeyring parses an OpenPGP keyring, binary (gpg --export, Helm's keyring.gpg) or ASCII-armoured.
func readKeyring(data []byte) (openpgp.EntityList, error) {
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN")) {
		return nonEmptyRing(openpgp.ReadArmoredKeyRing(bytes.NewReader(data)))
	}
	return nonEmptyRing(openpgp.ReadKeyRing(bytes.NewReader(data)))
}

func nonEmptyRing(ring openpgp.EntityList, err error) (openpgp.EntityList, error) {
	if err != nil {
		return nil, fail(ErrProvenance, err, "the keyring cannot be read")
	}
	if len(ring) == 0 {
		return nil, fail(ErrProvenance, nil, "the keyring holds no keys")
	}
	return ring, nil
}

// verifyProvenance checks, as helm verify does, that prov is a clear-signed provenance file signed by a
// key of keyring and that it announces archive's sha256 for file (the archive's base name).
func verifyProvenance(keyring, archive, prov []byte, file string) error {
	ring, err := readKeyring(keyring)
	if err != nil {
		return err
	}
	block, _ := clearsign.Decode(prov)
	if block == nil {
		return fail(ErrProvenance, nil, "the provenance file of %s holds no clear-signed block", file)
	}
	if _, err := openpgp.CheckDetachedSignature(ring, bytes.NewReader(block.Bytes), block.ArmoredSignature.Body, nil); err != nil {
		if errors.Is(err, pgperrors.ErrUnknownIssuer) {
			return fail(ErrProvenance, nil, "the provenance file of %s is signed by a key that is not in the keyring", file)
		}
		return fail(ErrProvenance, err, "the provenance file of %s has a bad signature", file)
	}
	sums, err := provenanceSums(block.Plaintext)
	if err != nil {
		return fail(ErrProvenance, err, "the provenance file of %s cannot be parsed", file)
	}
	want, got := sums.Files[file], "sha256:"+sha256Hex(archive)
	switch {
	case want == "":
		return fail(ErrProvenance, nil, "the provenance file announces no sha256 for %s", file)
	case normalizeDigest(want) != normalizeDigest(got):
		return fail(ErrProvenance, nil, "the provenance file announces %s for %s but the archive has %s", want, file, got)
	}
	return nil
}

// provenanceSums reads the checksums from a provenance message: Chart.yaml, "...", then the checksums.
func provenanceSums(msg []byte) (*provenance.SumCollection, error) {
	parts := bytes.Split(msg, []byte("\n...\n"))
	if len(parts) < 2 {
		return nil, errors.New("message block must have at least two parts")
	}
	sums := &provenance.SumCollection{}
	if err := yaml.Unmarshal(parts[1], sums); err != nil {
		return nil, err
	}
	return sums, nil
}

// provURL returns the URL of an archive's provenance file: the archive URL with ".prov" appended to its path.
func provURL(archiveURL *url.URL) *url.URL {
	u := *archiveURL
	u.Path += ".prov"
	u.RawPath = ""
	return &u
}

// archiveFile is the base name of an archive URL's path, the name a .prov announces its checksum under.
func archiveFile(u *url.URL) string { return path.Base(u.Path) }
