//go:build race

package rawws

// hubPoolSlack is how many allocations per publish the pools may cost: the
// race detector makes sync.Pool drop items at random, so only "nothing per
// subscriber" can be checked under it.
const hubPoolSlack = 4
