package castai

import (
	"errors"
	"fmt"
	"net/http"
)

// maxRedirects bounds a redirect chain on the API's own host.
const maxRedirects = 5

// ErrRedirectRefused is returned for a redirect that would send the API key elsewhere.
var ErrRedirectRefused = errors.New("castai: redirect refused")

// keepKeyHome is the client's redirect policy: the X-API-Key header travels with every request, so a
// redirect is followed only to the same scheme and host as the first request (http to https on the same
// host too). Anything else could hand the key to another server, or send it in clear text.
func keepKeyHome(req *http.Request, via []*http.Request) error {
	if len(via) == 0 {
		return nil
	}
	first := via[0].URL
	switch {
	case len(via) > maxRedirects:
		return fmt.Errorf("%w: more than %d redirects", ErrRedirectRefused, maxRedirects)
	case req.URL.Host != first.Host:
		return fmt.Errorf("%w: %s redirects to another host (%s); the API key is only sent to %s", ErrRedirectRefused, first.Host, req.URL.Host, first.Host)
	case first.Scheme == "https" && req.URL.Scheme != "https":
		return fmt.Errorf("%w: %s redirects from https to %s", ErrRedirectRefused, first.Host, req.URL.Scheme)
	}
	return nil
}

// withRedirectPolicy returns a copy of hc that follows redirects only as keepKeyHome allows (hc itself,
// possibly shared, is not changed).
func withRedirectPolicy(hc *http.Client) *http.Client {
	out := *hc
	out.CheckRedirect = keepKeyHome
	return &out
}
