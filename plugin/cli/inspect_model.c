/* `streamtune inspect model FILE`: configuration, members and parameters of a model file. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "model.h"

int inspect_model(int argc, char **argv)
{
	if (argc != 2 || stn_cli_is_help(argv[1])) {
		if (argc == 2)
			printf("usage: streamtune inspect model FILE\n");
		return argc == 2 ? 0 : stn_cli_usage_error("inspect model", "usage: FILE");
	}
	stn_model m;
	stn_errbuf eb;
	stn_status st = stn__model_read(&m, argv[1], &eb);
	if (st != STN_OK)
		return stn_cli_error("inspect model", "%s: %s (%s)", argv[1], eb.text,
				     stn__status_name(st));
	size_t per = stn__net_param_count(&m.cfg);
	printf("model %s\n", argv[1]);
	printf("  format version  %u\n", STN_MODEL_VERSION);
	printf("  encoder         %u layers, width %u, %u node features\n",
	       (unsigned)m.cfg.layers, (unsigned)m.cfg.width, (unsigned)m.cfg.feat_dim);
	printf("  head            monotone (log c, alpha in (0.2,1], sharpness)\n");
	printf("  parameters      %zu per member\n", per);
	printf("  seed            %llu\n", (unsigned long long)m.seed);
	printf("  data hash       %016llx\n", (unsigned long long)m.data_hash);
	printf("  data            %s\n", m.description[0] ? m.description : "(none)");
	printf("  members         %zu\n", m.n_members);
	for (size_t i = 0; i < m.n_members; i++) {
		const stn_model_member *x = &m.members[i];
		printf("    [%zu] %-16s radius %.4g  ", i, x->name, x->radius);
		if (x->has_dag)
			printf("medoid DAG %zu ops %zu edges hash %016llx\n", x->dag.n_ops,
			       x->dag.n_edges, (unsigned long long)stn__dag_hash(&x->dag));
		else
			printf("no DAG (global)\n");
		for (size_t t = 0; t < x->net.n_tensors; t++)
			printf("        %-12s %zu x %zu\n", x->net.tensors[t].name,
			       x->net.tensors[t].rows, x->net.tensors[t].cols);
	}
	stn__model_fini(&m);
	return 0;
}
