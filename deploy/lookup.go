package deploy

import "context"

// Request returns one request, as stored; ENOTFOUND when there is none.
// The bot uses it to act on a card (Roll back) from stored state, never
// from what a click carries.
func (s *requests) Request(ctx context.Context, id int64) (*Request, error) {
	return s.store.Request(ctx, id)
}
