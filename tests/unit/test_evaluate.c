/* evaluate: episode and convergence accounting on scripted sequences, one closed run, and the
 * suite's check of its arguments. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "evaluate.h"

static void test_scripted_episodes(void **state)
{
	(void)state;
	stn_eval_acc a;
	stn__eval_acc_init(&a, 10);
	/* episode 1: two reconfigurations, then stable; a bottleneck after convergence */
	stn__eval_acc_window(&a, true, true, true, 8, 10);
	stn__eval_acc_window(&a, false, true, false, 9, 10);
	for (int i = 0; i < 11; i++)
		stn__eval_acc_window(&a, false, false, false, 11, 10);
	stn__eval_acc_window(&a, false, false, true, 11, 10);
	/* episode 2: reconfigures every window, never converges */
	for (int i = 0; i < 5; i++)
		stn__eval_acc_window(&a, i == 0, true, false, 10, 10);
	stn__eval_acc_finish(&a);
	stn_eval_result r;
	stn__eval_acc_result(&a, &r);
	assert_int_equal(r.episodes, 2);
	assert_int_equal(r.converged_episodes, 1);
	assert_int_equal(r.reconfigs_total, 7);
	assert_int_equal(r.reconfigs_max, 5);
	assert_true(r.reconfigs_mean > 3.49 && r.reconfigs_mean < 3.51);
	assert_true(r.parallelism_over_oracle > 1.099 && r.parallelism_over_oracle < 1.101);
	assert_int_equal(r.bottleneck_windows_after_convergence, 1);
	/* converged after 2 windows; the unconverged one counts its 5 windows */
	assert_true(r.time_to_stable_windows > 3.49 && r.time_to_stable_windows < 3.51);
}

static void test_bottleneck_breaks_stable_run(void **state)
{
	(void)state;
	stn_eval_acc a;
	stn__eval_acc_init(&a, 10);
	for (int i = 0; i < 9; i++)
		stn__eval_acc_window(&a, i == 0, false, false, 5, 5);
	stn__eval_acc_window(&a, false, false, true, 5, 5); /* the 10th is a bottleneck */
	for (int i = 0; i < 9; i++)
		stn__eval_acc_window(&a, false, false, false, 5, 5);
	stn__eval_acc_finish(&a);
	stn_eval_result r;
	stn__eval_acc_result(&a, &r);
	assert_int_equal(r.episodes, 1);
	assert_int_equal(r.converged_episodes, 0);
	assert_true(r.time_to_stable_windows > 18.9 && r.time_to_stable_windows < 19.1);
	/* one more stable window converges it, counted from window 10 */
	stn__eval_acc_init(&a, 10);
	for (int i = 0; i < 9; i++)
		stn__eval_acc_window(&a, i == 0, false, false, 5, 5);
	stn__eval_acc_window(&a, false, false, true, 5, 5);
	for (int i = 0; i < 10; i++)
		stn__eval_acc_window(&a, false, false, false, 5, 5);
	stn__eval_acc_finish(&a);
	stn__eval_acc_result(&a, &r);
	assert_int_equal(r.converged_episodes, 1);
	assert_true(r.time_to_stable_windows > 9.9 && r.time_to_stable_windows < 10.1);
	assert_true(r.parallelism_over_oracle > 0.999 && r.parallelism_over_oracle < 1.001);
}

static void test_run_static_and_ds2(void **state)
{
	(void)state;
	stn_errbuf eb = {{0}};
	stn_sim_job job;
	assert_int_equal(stn__sim_job_random(&job, STN_SIM_Q3, 0, 7, &eb), STN_OK);
	double steps[2] = {1.0, 1.6};
	stn_sim_schedule sched = {.kind = STN_SCHED_STEPS, .values = steps, .n_values = 2,
				  .step_len = 60};
	stn_eval_run_opts ro = {.windows = 120, .w_stable = 10, .episode_threshold = 0.05,
				.sim_seed = 3};
	stn_eval_result r;
	assert_int_equal(stn__eval_run(stn__policy_find("static"), &job, &sched, &ro, &r, &eb),
			 STN_OK);
	assert_int_equal(r.episodes, 2);
	assert_int_equal(r.reconfigs_total, 0);
	assert_int_equal(r.windows, 120);
	assert_int_equal(stn__eval_run(stn__policy_find("ds2"), &job, &sched, &ro, &r, &eb),
			 STN_OK);
	assert_int_equal(r.episodes, 2);
	assert_true(r.reconfigs_total >= 1); /* the rate step needs more parallelism */
	assert_int_equal(r.safety_violations, 0);
	stn__sim_job_fini(&job);
}

/* The suite's arguments are checked before anything runs: unknown policies, options a policy
 * does not know or refuses the value of, options for a policy that does not exist. */
static void test_suite_check(void **state)
{
	(void)state;
	stn_errbuf eb = {{0}};
	const char *const good[] = {"streamtune", "ds2"}, *const bad[] = {"ds2", "foo"};
	stn_suite_option opt = {"streamtune", {"tau", 0.2}};
	stn_suite_opts o = {.n_jobs = 1, .windows = 10, .seed = 1, .policies = good,
			    .n_policies = 2, .opts = &opt, .n_opts = 1};

	assert_int_equal(stn__eval_suite_check(&o, &eb), STN_OK);
	o.policies = bad;
	assert_int_equal(stn__eval_suite_check(&o, &eb), STN_EINVAL);
	assert_non_null(strstr(eb.text, "unknown policy 'foo'"));
	o.policies = good;
	opt.opt.key = "nosuch";
	assert_int_equal(stn__eval_suite_check(&o, &eb), STN_EINVAL);
	assert_non_null(strstr(eb.text, "streamtune: unknown option 'nosuch'"));
	opt.opt = (stn_policy_option){"tau", 9.0};
	assert_int_equal(stn__eval_suite_check(&o, &eb), STN_EINVAL);
	assert_non_null(strstr(eb.text, "tau=9"));
	opt.policy = NULL; /* for every policy: ds2 has no tau */
	opt.opt.value = 0.2;
	assert_int_equal(stn__eval_suite_check(&o, &eb), STN_EINVAL);
	assert_non_null(strstr(eb.text, "ds2: unknown option 'tau'"));
	opt.policy = "nosuch";
	assert_int_equal(stn__eval_suite_check(&o, &eb), STN_EINVAL);
	assert_non_null(strstr(eb.text, "unknown policy 'nosuch'"));
	/* An option for a known policy the suite does not run is no error (it is unused). */
	opt.policy = "dhalion";
	opt.opt = (stn_policy_option){"step", 1.0};
	assert_int_equal(stn__eval_suite_check(&o, &eb), STN_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scripted_episodes),
		cmocka_unit_test(test_bottleneck_breaks_stable_run),
		cmocka_unit_test(test_run_static_and_ds2),
		cmocka_unit_test(test_suite_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
