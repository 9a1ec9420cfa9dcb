/* simulate_suite: `streamtune simulate --suite`: every policy on the same simulated jobs.
 * argv[0] is the subcommand name. */
#ifndef STN_CLI_SIMULATE_SUITE_H
#define STN_CLI_SIMULATE_SUITE_H

int stn_cli_simulate_suite(int argc, char **argv);

#endif
