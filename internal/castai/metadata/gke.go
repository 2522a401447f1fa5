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

func (d *discoverer) gke(ctx context.Context) (*Metadata, error) {
	m := &Metadata{Provider: ProviderGKE, Sources: map[string]string{}}
	vals, missing := d.envPick(m, gkeEnv...)
	if len(missing) > 0 {
		base := strings.TrimRight(d.gceURL, "/")
		var errs []error
		var unreachable error
		for _, name := range missing {
			if unreachable != nil {
				break
			}
			raw, err := d.get(ctx, http.MethodGet, base+gcePaths[name], http.Header{"Metadata-Flavor": {"Google"}})
			if err != nil {
				errs = append(errs, err)
				if isUnreachable(err) {
					unreachable = err
				}
				continue
			}
			v := strings.TrimSpace(string(raw))
			if name == EnvGKERegion {
				v = regionFromZone(v)
			}
			if v == "" {
				errs = append(errs, fmt.Errorf("GET %s: empty value", gcePaths[name]))
				continue
			}
			vals[name] = v
			m.Sources[name] = SourceGCE
		}
		// The region follows from a zonal or regional cluster location.
		if vals[EnvGKERegion] == "" && vals[EnvGKELocation] != "" {
			if r := regionFromLocation(vals[EnvGKELocation]); r != "" {
				vals[EnvGKERegion] = r
				m.Sources[EnvGKERegion] = SourceDerived
			}
		}
		var still []string
		for _, n := range gkeEnv {
			if vals[n] == "" {
				still = append(still, n)
			}
		}
		if len(still) > 0 {
			return nil, &MissingMetadataError{Provider: ProviderGKE, MissingEnv: still,
				Cause: fmt.Errorf("GCE metadata: %w", errors.Join(errs...))}
		}
	}
	m.ProjectID, m.ClusterName = vals[EnvGKEProjectID], vals[EnvGKEClusterName]
	m.Region, m.Location = vals[EnvGKERegion], vals[EnvGKELocation]
	return m, nil
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
