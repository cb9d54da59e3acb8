# Judges a TAP report of the conformance suite (runtime-tests) against what is expected of it
# on this kind of host. Sourced by hack/test.sh (cgroup v1, this machine) and by
# hack/test-cgroup2.sh (cgroup v2, in the guest); bash only.
#
#   runtime_tests_verdict LABEL TAP STATUS KNOWN_FAILURES EXPECTED_SKIPS
#
# TAP is the runner's stdout, STATUS its exit status, KNOWN_FAILURES and EXPECTED_SKIPS the case
# names (whitespace-separated) that must fail and must skip here. It prints the counts and every
# skip with its reason, and returns 1 if:
#   * the run did not finish: no `P passed, F failed, S skipped` last line, no `1..N` plan, or
#     passed + failed + skipped (counted from the case lines) is not N or not the summary's;
#   * the exit status disagrees with the report (1 with failures, 0 without; anything else is
#     a crash or a kill);
#   * a case fails that is not a known failure, or a known failure does not fail;
#   * a case skips that is not an expected skip. (An expected skip that runs is reported, not
#     fatal: a host with more features than the reference host runs more cases.)
runtime_tests_verdict() {
    local label=$1 tap=$2 status=$3 known=$4 expected=$5
    local verdict=0 complete=1 summary plan passed failed skipped total
    local failed_names skipped_names known_sorted expected_sorted bad
    if [[ ! -s $tap ]]; then
        echo "$label: no report ($tap is missing or empty; exit status $status)"
        return 1
    fi
    summary=$(tail -n 1 "$tap")
    if [[ ! $summary =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
        echo "$label: the run did not finish (last line: $summary)"
        verdict=1 complete=0
    fi
    plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$tap")
    passed=$(grep -cE '^ok [0-9]+ - ' "$tap" || true)
    skipped=$(grep -cE '^ok [0-9]+ - [a-z0-9_]+ # SKIP' "$tap" || true)
    passed=$((passed - skipped))
    failed=$(grep -cE '^not ok [0-9]+ - ' "$tap" || true)
    total=$((passed + failed + skipped))
    if [[ ! $plan =~ ^[0-9]+$ ]]; then
        echo "$label: no single TAP plan (1..N) in the report"
        verdict=1 complete=0
    elif ((total != plan)); then
        echo "$label: the plan is 1..$plan but $total cases reported ($passed passed, $failed failed, $skipped skipped): cases are missing"
        verdict=1 complete=0
    fi
    if [[ $summary =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]] &&
        [[ "${BASH_REMATCH[1]} ${BASH_REMATCH[2]} ${BASH_REMATCH[3]}" != "$passed $failed $skipped" ]]; then
        echo "$label: the summary ($summary) disagrees with the case lines ($passed passed, $failed failed, $skipped skipped)"
        verdict=1
    fi
    if ! { { ((failed > 0)) && [[ $status == 1 ]]; } || { ((failed == 0)) && [[ $status == 0 ]]; }; }; then
        echo "$label: exit status $status with $failed failed case(s) (expected $((failed > 0 ? 1 : 0))): the runner crashed or was killed"
        verdict=1
    fi

    failed_names=$(sed -n 's/^not ok [0-9]* - \([a-z0-9_]*\).*/\1/p' "$tap" | sort)
    known_sorted=$(printf '%s\n' $known | sort)
    bad=$(comm -23 <(echo "$failed_names") <(echo "$known_sorted") | grep . || true)
    if [[ -n $bad ]]; then
        echo "$label: fails (not a known failure): $(echo $bad)"
        verdict=1
    fi
    # (Cases that did not run neither fail nor skip: judged only on a complete run.)
    bad=$(comm -13 <(echo "$failed_names") <(echo "$known_sorted") | grep . || true)
    if [[ -n $bad ]] && ((complete)); then
        echo "$label: a known failure does not fail (take it off the list and the docs): $(echo $bad)"
        verdict=1
    fi

    skipped_names=$(sed -n 's/^ok [0-9]* - \([a-z0-9_]*\) # SKIP.*/\1/p' "$tap" | sort)
    expected_sorted=$(printf '%s\n' $expected | sort)
    bad=$(comm -23 <(echo "$skipped_names") <(echo "$expected_sorted") | grep . || true)
    if [[ -n $bad ]]; then
        echo "$label: skips (not an expected skip; a case must run or its skip be expected): $(echo $bad)"
        verdict=1
    fi
    # A host with more than this one (AppArmor, net_cls, huge pages) runs more cases: said
    # loudly, not fatal, so that such a host does not fail the lane for passing more.
    bad=$(comm -13 <(echo "$skipped_names") <(echo "$expected_sorted") | grep . || true)
    if [[ -n $bad ]] && ((complete)); then
        echo "$label: NOTE: expected skips ran on this host (if this is the reference host, take them off the list and the docs): $(echo $bad)"
    fi

    echo "$label: $passed passed, $failed failed, $skipped skipped of ${plan:-?}; exit status $status${known:+ (known failures: $(echo $known))}"
    if ((skipped > 0)); then
        echo "$label: $skipped skipped:"
        sed -n 's/^ok [0-9]* - \([a-z0-9_]*\) # SKIP \(.*\)/  \1: \2/p' "$tap"
    fi
    return $verdict
}
