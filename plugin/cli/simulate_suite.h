/* simulate_suite: `streamtune simulate --policy P` (one closed-loop run) and
 * `streamtune simulate --suite` (every policy on the same simulated jobs). argv[0] is the
 * subcommand name; the lead wires these into cmd_simulate. */
#ifndef STN_CLI_SIMULATE_SUITE_H
#define STN_CLI_SIMULATE_SUITE_H

int stn_cli_simulate_policy(int argc, char **argv);
int stn_cli_simulate_suite(int argc, char **argv);

#endif
