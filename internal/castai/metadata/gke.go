package metadata

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// gkeEnv lists the GKE variables in the order errors name them.
var gkeEnv = []string{EnvGKEProjectID, EnvGKEClusterName, EnvGKERegion, EnvGKELocation}

// gcePaths maps each GKE variable to its metadata server path.
var gcePaths = map[string]string{
	EnvGKEProjectID:   "/computeMetadata/v1/project/project-id",
	EnvGKEClusterName: "/computeMetadata/v1/instance/attributes/cluster-name",
	EnvGKERegion:      "/computeMetadata/v1/instance/zone",
	EnvGKELocation:    "/computeMetadata/v1/instance/attributes/cluster-location",
}

// gceFlavor is the header the GCE metadata server wants on requests and sets on answers.
const gceFlavor = "Metadata-Flavor"

// gke fills what the GKE variables lack from the GCE metadata server.
func (d *discoverer) gke(ctx context.Context) (*Metadata, error) {
	m := &Metadata{Provider: ProviderGKE, Sources: map[string]string{}}
	vals, missing := d.envPick(m, gkeEnv...)
	if len(missing) > 0 {
		cause := d.gceFill(ctx, m, vals, missing)
		// The region follows from a zonal or regional cluster location.
		if vals[EnvGKERegion] == "" && vals[EnvGKELocation] != "" {
			if r := regionFromLocation(vals[EnvGKELocation]); r != "" {
				vals[EnvGKERegion] = r
				m.Sources[EnvGKERegion] = SourceDerived
			}
		}
		if still := unset(vals, gkeEnv); len(still) > 0 {
			return nil, &MissingMetadataError{Provider: ProviderGKE, MissingEnv: still,
				Cause: fmt.Errorf("GCE metadata: %w", cause)}
		}
	}
	m.ProjectID, m.ClusterName = vals[EnvGKEProjectID], vals[EnvGKEClusterName]
	m.Region, m.Location = vals[EnvGKERegion], vals[EnvGKELocation]
	return m, nil
}

// gceFill asks the metadata server for each missing variable, stopping at the first transport
// failure, and returns what went wrong.
func (d *discoverer) gceFill(ctx context.Context, m *Metadata, vals map[string]string, missing []string) error {
	var errs []error
	for _, name := range missing {
		v, err := d.gceGet(ctx, gcePaths[name])
		if err == nil && name == EnvGKERegion {
			v = regionFromZone(v) // projects/<number>/zones/<zone>
		}
		if err == nil && v == "" {
			err = fmt.Errorf("GET %s: empty value", gcePaths[name])
		}
		if err != nil {
			errs = append(errs, err)
			if isUnreachable(err) {
				break
			}
			continue
		}
		vals[name] = v
		m.Sources[name] = SourceGCE
	}
	return errors.Join(errs...)
}

// gceGet reads one plain-text value; an answer without Metadata-Flavor: Google does not come
// from the metadata server (a proxy or captive portal) and ends the lookups.
func (d *discoverer) gceGet(ctx context.Context, path string) (string, error) {
	raw, hdr, err := d.get(ctx, http.MethodGet, strings.TrimRight(d.gceURL, "/")+path, http.Header{gceFlavor: {"Google"}})
	if hdr != nil && hdr.Get(gceFlavor) != "Google" {
		return "", &unreachableError{fmt.Errorf("GET %s: the answer lacks %s: Google, so it is not the GCE metadata server", path, gceFlavor)}
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(raw)), nil
}

// unset returns the names, in order, that vals has no value for.
func unset(vals map[string]string, names []string) []string {
	var still []string
	for _, n := range names {
		if vals[n] == "" {
			still = append(still, n)
		}
	}
	return still
}

// regionFromZone turns "projects/123/zones/europe-west1-b" or "europe-west1-b" into
// "europe-west1".
func regionFromZone(zone string) string {
	if i := strings.LastIndexByte(zone, '/'); i >= 0 {
		zone = zone[i+1:]
	}
	if i := strings.LastIndexByte(zone, '-'); i > 0 {
		return zone[:i]
	}
	return ""
}

// regionFromLocation returns the region of a GKE location: a region ("europe-west1") is
// kept, a zone ("europe-west1-b") loses its last part.
func regionFromLocation(loc string) string {
	switch strings.Count(loc, "-") {
	case 1:
		return loc
	case 2:
		return regionFromZone(loc)
	}
	return ""
}
