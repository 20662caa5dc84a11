//go:build !race

package rawws

// hubPoolSlack is how many allocations per publish the pools may cost:
// none once warm.
const hubPoolSlack = 0
