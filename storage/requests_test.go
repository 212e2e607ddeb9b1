package storage_test

import "github.com/deploybot/deploybot/storage/storetest"

// The helpers of the conformance suite serve this package's own tests.
var (
	newRequest = storetest.NewRequest
	MustCreate = storetest.MustCreate
	wantCode   = storetest.WantCode
	newClock   = storetest.NewClock
)

// clock is the conformance suite's settable clock.
type clock = storetest.Clock
