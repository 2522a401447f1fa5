package castai

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// cacheEntry is one cached getByName answer.
type cacheEntry struct {
	info    *ComponentInfo
	expires time.Time
}

// inflightCall lets concurrent getByName calls for one name share one request.
type inflightCall struct {
	done chan struct{}
	info *ComponentInfo
	err  error
}

// GetComponentByName returns the catalog entry of a component (GET
// cluster-management/v1/components:getByName?name=X). A 404 matches ErrNotFound.
// Successful answers are cached for the component cache TTL (see WithComponentCacheTTL)
// and concurrent calls for the same name share one request. The result is a copy.
func (c *Client) GetComponentByName(ctx context.Context, name string) (*ComponentInfo, error) {
	if err := requireID(EndpointGetComponentByName, "component name", name); err != nil {
		return nil, err
	}
	if c.cacheTTL <= 0 {
		return c.fetchComponent(ctx, name)
	}

	c.cacheMu.Lock()
	if e, ok := c.cache[name]; ok && c.now().Before(e.expires) {
		c.cacheMu.Unlock()
		c.record(EndpointGetComponentByName, func(s *EndpointStats) { s.Calls++; s.CacheHits++ })
		return e.info.clone(), nil
	}
	if f, ok := c.inflight[name]; ok {
		c.cacheMu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if f.err != nil {
			if isCtxErr(f.err) && ctx.Err() == nil {
				// The leader gave up on its own context; ours is still alive.
				return c.fetchComponent(ctx, name)
			}
			return nil, f.err
		}
		c.record(EndpointGetComponentByName, func(s *EndpointStats) { s.Calls++; s.CacheHits++ })
		return f.info.clone(), nil
	}
	f := &inflightCall{done: make(chan struct{})}
	c.inflight[name] = f
	gen := c.cacheGen
	c.cacheMu.Unlock()

	info, err := c.fetchComponent(ctx, name)

	c.cacheMu.Lock()
	delete(c.inflight, name)
	if err == nil && gen == c.cacheGen {
		c.cache[name] = cacheEntry{info: info.clone(), expires: c.now().Add(c.cacheTTL)}
	}
	c.cacheMu.Unlock()
	f.info, f.err = info, err
	close(f.done)
	if err != nil {
		return nil, err
	}
	return info.clone(), nil
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func (c *Client) fetchComponent(ctx context.Context, name string) (*ComponentInfo, error) {
	var out ComponentInfo
	err := c.do(ctx, call{
		ep: EndpointGetComponentByName, method: http.MethodGet,
		path:  "/cluster-management/v1/components:getByName",
		query: url.Values{"name": {name}},
		out:   &out,
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// InvalidateComponentCache drops the cached getByName answers for names, or all of them
// when no name is given. A request already in flight is not cached afterwards.
func (c *Client) InvalidateComponentCache(names ...string) {
	c.cacheMu.Lock()
	defer c.cacheMu.Unlock()
	c.cacheGen++
	if len(names) == 0 {
		clear(c.cache)
		return
	}
	for _, n := range names {
		delete(c.cache, n)
	}
}
