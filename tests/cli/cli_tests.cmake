# Declarative CLI scenarios: each runs `a4ps` as a user would and checks its exit code and
# output through expect.sh. A crash or abort fails every one of them.
set(A4PS_FIXTURES "${CMAKE_CURRENT_BINARY_DIR}/cli-fixtures")
set(EXPECT "${CMAKE_CURRENT_SOURCE_DIR}/cli/expect.sh")
set(A4PS_BIN "$<TARGET_FILE:a4ps>")

add_test(NAME cli.fixtures COMMAND a4ps_test_fixtures "${A4PS_FIXTURES}")
set_tests_properties(cli.fixtures PROPERTIES FIXTURES_SETUP cli_fixtures)

function(a4ps_cli_test name exit_code regex)
  add_test(NAME cli.${name} COMMAND "${EXPECT}" ${exit_code} "${regex}" -- ${A4PS_BIN} ${ARGN}
           WORKING_DIRECTORY "${A4PS_FIXTURES}")
  set_tests_properties(cli.${name} PROPERTIES FIXTURES_REQUIRED cli_fixtures)
endfunction()

set(F "${A4PS_FIXTURES}")
string(REPEAT "community resource atlas " 300 LONG_PROMPT)

# What works.
a4ps_cli_test(version 0 "^a4ps [0-9]+\\.[0-9]+\\.[0-9]+" --version)
a4ps_cli_test(help_lists_commands 0 "generate.*" --help)
a4ps_cli_test(models_info 0 "architecture +llama" models info ${F}/tiny.gguf)
a4ps_cli_test(models_info_json 0 "\"vocab_size\": 32064" models info --json ${F}/tiny.gguf)
a4ps_cli_test(models_mktest 0 "wrote .*seed 9" models mktest ${F}/made.gguf --seed 9 --type q8_0)
a4ps_cli_test(models_mktest_lora 0 "LoRA adapter of rank 4"
              models mktest ${F}/made-lora.gguf --lora 4 --seed 3)
a4ps_cli_test(generate_streams 0 "stopped: max_tokens"
              generate --model ${F}/tiny.gguf --seed 1 --max-tokens 8 "hello")
a4ps_cli_test(generate_json 0 "\"generated_tokens\": [0-9]+"
              generate --model ${F}/tiny.gguf --seed 1 --max-tokens 8 --json "hello")
a4ps_cli_test(generate_persona 0 "loaded BRICK"
              --config ${F}/local.toml generate --persona brick --max-tokens 8 "hello")
a4ps_cli_test(generate_schema 0 "\"schema_valid\": true"
              generate --model ${F}/tiny.gguf --schema ${F}/route.json --max-tokens 200 --json
              "Route this task")
a4ps_cli_test(global_options_after_the_command 0 "did you mean memory_mb"
              config check --config ${F}/unknown_key.toml)
a4ps_cli_test(models_plan 0 "One Socratic cycle is [0-9]+ persona turns"
              --config ${F}/local.toml models plan)
a4ps_cli_test(models_plan_json 0 "\"loads_per_cycle\""
              --config ${F}/local.toml models plan --json)
a4ps_cli_test(models_stats_json 0 "\"prefix_cache_hits\": 1"
              --config ${F}/local.toml models stats --tokens 2 --json)
a4ps_cli_test(image_init 0 "created image .*format 1" init ${F}/new-image)
set_tests_properties(cli.image_init PROPERTIES FIXTURES_SETUP cli_image)
a4ps_cli_test(image_info 0 "state.db schema [0-9]+" image info ${F}/new-image)
a4ps_cli_test(image_init_refuses_non_empty 7 "not empty" init ${F}/new-image)
a4ps_cli_test(image_info_no_image 3 "no image here" --image ${F}/nowhere image info)
set_tests_properties(cli.image_info cli.image_init_refuses_non_empty PROPERTIES
                     FIXTURES_REQUIRED "cli_fixtures;cli_image")
a4ps_cli_test(config_defaults 0 "memory_mb = 8192" config defaults)
a4ps_cli_test(config_check_builtin 0 "personas ALFRED BABS BRICK ROBIN" config check)
a4ps_cli_test(config_unknown_key_warns 0 "did you mean memory_mb"
              --config ${F}/unknown_key.toml config check)

# Bad input: a clear error, a specific exit code, no abort.
a4ps_cli_test(missing_model_file 3 "no such model file" models info ${F}/missing.gguf)
a4ps_cli_test(generate_missing_model 3 "no such model file"
              generate --model ${F}/missing.gguf "hi")
a4ps_cli_test(non_gguf_file 2 "not a GGUF model file" generate --model ${F}/notes.gguf "hi")
a4ps_cli_test(truncated_gguf 8 "truncated GGUF file" generate --model ${F}/truncated.gguf "hi")
a4ps_cli_test(unsupported_architecture 2 "architecture 'quantum-brain' is not supported"
              generate --model ${F}/quantum.gguf "hi")
# A prompt longer than the context loses its middle and is answered (docs/formats/workflow.md).
a4ps_cli_test(prompt_longer_than_context 0 "stopped: max_tokens"
              generate --model ${F}/tiny.gguf --ctx 256 "${LONG_PROMPT}")
a4ps_cli_test(invalid_schema 2 "invalid JSON schema"
              generate --model ${F}/tiny.gguf --schema ${F}/bad_schema.json "hi")
a4ps_cli_test(schema_not_json 2 "not_json.json: not valid JSON"
              generate --model ${F}/tiny.gguf --schema ${F}/not_json.json "hi")
a4ps_cli_test(bad_config_value 2 "\\[budget\\] memory_mb = -3: must be a positive integer"
              --config ${F}/bad_value.toml config check)
a4ps_cli_test(bad_config_syntax 2 "bad_syntax.toml:1:[0-9]+: TOML syntax error"
              --config ${F}/bad_syntax.toml config check)
a4ps_cli_test(missing_config 3 "no such configuration file" --config ${F}/none.toml config check)
a4ps_cli_test(codex_unknown_model 2 "\\[persona.brick\\] model = \"gpt-17\": must be a model named"
              --codex ${F}/bad_codex.toml config check)
a4ps_cli_test(unknown_persona 3 "persona batman: not in the codex"
              generate --persona batman "hi")
a4ps_cli_test(ollama_unreachable 4 "Ollama at http://127.0.0.1:9/api/chat is not reachable \\(connection refused\\): start it \\(`ollama serve`"
              --config ${F}/ollama.toml generate --persona brick "hi")
set_tests_properties(cli.ollama_unreachable PROPERTIES ENVIRONMENT "OLLAMA_HOST=127.0.0.1:9")
a4ps_cli_test(generate_record 0 "stopped"
              generate --model ${F}/tiny.gguf --seed 4 --max-tokens 6 --record ${F}/rec.jsonl "hi")
a4ps_cli_test(generate_replay_miss 3 "replay: nothing recorded"
              generate --model ${F}/tiny.gguf --seed 5 --max-tokens 6 --replay ${F}/rec.jsonl "hi")
set_tests_properties(cli.generate_replay_miss PROPERTIES DEPENDS cli.generate_record)
a4ps_cli_test(generate_replay_hit 0 "stopped: max_tokens"
              generate --model ${F}/tiny.gguf --seed 4 --max-tokens 6 --replay ${F}/rec.jsonl "hi")
set_tests_properties(cli.generate_replay_hit PROPERTIES DEPENDS cli.generate_record)
a4ps_cli_test(plan_refuses_model_over_budget 5 "alone needs about .* more than the budget"
              --config ${F}/small_budget.toml models plan)
a4ps_cli_test(malformed_model_reference 2 "needs @URL"
              --config ${F}/bad_ref.toml generate --persona brick "hi")
a4ps_cli_test(lora_that_is_not_an_adapter 2 "general.type is \"\", expected \"adapter\""
              generate --model ${F}/tiny.gguf --lora ${F}/tiny.gguf "hi")
a4ps_cli_test(lora_bad_scale 2 "expected FILE or FILE:SCALE"
              generate --model ${F}/tiny.gguf --lora ${F}/x.gguf:abc "hi")
a4ps_cli_test(generate_needs_a_model 2 "give --model FILE or --persona NAME" generate "hi")
a4ps_cli_test(bad_mktest_shape 2 "--heads 5: must divide --embd 64"
              models mktest ${F}/x.gguf --heads 5)
a4ps_cli_test(unknown_option 2 "--frobnicate" generate --frobnicate "hi")
a4ps_cli_test(usage_errors_have_the_prefix 2 "^a4ps: error: .*--frobnicate.*see: a4ps generate --help"
              generate --frobnicate "hi")
a4ps_cli_test(unknown_top_level_option 2 "^a4ps: error: unknown option --bogus for a4ps" --bogus)
a4ps_cli_test(no_command 2 "^a4ps: error: a4ps: a command is required \\(see: a4ps --help\\)")
a4ps_cli_test(runs_list_limit_zero 2 "^a4ps: error: --limit: 0: must be a whole number, at least 1"
              runs list --limit 0)
a4ps_cli_test(memory_search_k_zero 2 "^a4ps: error: --k: 0: must be a whole number, at least 1"
              memory search atlas --k 0)
a4ps_cli_test(models_info_directory 2 "cli-fixtures: is a directory, not a GGUF model file"
              models info ${F})
a4ps_cli_test(generate_model_directory 2 "is a directory, not a GGUF model file"
              generate --model ${F} "hi")

# config check on an image as run loads it, a read-only image, hints that name the image.
add_test(NAME cli.check_flow
         COMMAND "${CMAKE_CURRENT_SOURCE_DIR}/cli/check_flow.sh" ${A4PS_BIN} "${F}/tiny.gguf"
                 "${CMAKE_CURRENT_BINARY_DIR}/cli-check-flow")
set_tests_properties(cli.check_flow PROPERTIES FIXTURES_REQUIRED cli_fixtures)

# Every a4ps command and option named in docs/cli.md and README.md exists, and docs/cli.md
# names every command and option there is.
add_test(NAME cli.docs_match_the_command
         COMMAND python3 "${CMAKE_CURRENT_SOURCE_DIR}/cli/docs_match_cli.py" ${A4PS_BIN}
                 "${PROJECT_SOURCE_DIR}/docs/cli.md" "${PROJECT_SOURCE_DIR}/README.md")

# The graph commands end to end, in order, on their own image.
# The image as one file: save while served, verify, restore elsewhere, bad files refused.
add_test(NAME cli.image_file_flow
         COMMAND "${CMAKE_CURRENT_SOURCE_DIR}/cli/image_file_flow.sh" ${A4PS_BIN}
                 "$<TARGET_FILE:a4ps_test_forge_recording>" "${CMAKE_CURRENT_BINARY_DIR}/cli-image-file-flow")

# The strategic loop end to end: judge, dataset, train, gate, adopt, rollback, and its faults.
add_test(NAME cli.evolve_flow
         COMMAND "${CMAKE_CURRENT_SOURCE_DIR}/cli/evolve_flow.sh" ${A4PS_BIN}
                 "${CMAKE_CURRENT_BINARY_DIR}/cli-evolve-flow")

add_test(NAME cli.graph_flow
         COMMAND "${CMAKE_CURRENT_SOURCE_DIR}/cli/graph_flow.sh" ${A4PS_BIN}
                 "${CMAKE_CURRENT_BINARY_DIR}/cli-graph-flow")

# The persona workflow end to end on generated models, including kill -9 and resume.
add_test(NAME cli.workflow_flow
         COMMAND "${CMAKE_CURRENT_SOURCE_DIR}/cli/workflow_flow.sh" ${A4PS_BIN}
                 "${CMAKE_CURRENT_BINARY_DIR}/cli-workflow-flow")

# The living loop: a run's dissonance becomes a goal, and a4ps live pursues it (issue 14).
add_test(NAME cli.live_flow
         COMMAND "${CMAKE_CURRENT_SOURCE_DIR}/cli/live_flow.sh" ${A4PS_BIN}
                 "${CMAKE_CURRENT_BINARY_DIR}/cli-live-flow")

# The run that hung in BRICK's tool step (shared/repro/brick-tools-hang) resumes to its end.
add_test(NAME cli.hang_regression
         COMMAND "${CMAKE_CURRENT_SOURCE_DIR}/cli/hang_regression.sh" ${A4PS_BIN}
                 "${CMAKE_CURRENT_BINARY_DIR}/cli-hang-regression")

# The README's main job, as a user runs it: the seeding task through the four personas.
add_test(NAME cli.demo_script COMMAND "${PROJECT_SOURCE_DIR}/scripts/demo.sh")
set_tests_properties(cli.demo_script PROPERTIES
  FIXTURES_SETUP demo_image
  ENVIRONMENT "A4PS_BUILD_DIR=${CMAKE_BINARY_DIR}"
  PASS_REGULAR_EXPRESSION "══ Answer"
  FAIL_REGULAR_EXPRESSION "a4ps: error")

# The memory commands on their own image.
add_test(NAME cli.memory_flow
         COMMAND "${CMAKE_CURRENT_SOURCE_DIR}/cli/memory_flow.sh" ${A4PS_BIN}
                 "${CMAKE_CURRENT_BINARY_DIR}/cli-memory-flow")

# `a4ps serve` on its own image: health, OpenAPI, JSON errors, the token rule, SIGTERM.
add_test(NAME cli.serve_flow
         COMMAND "${CMAKE_CURRENT_SOURCE_DIR}/cli/serve_flow.sh" ${A4PS_BIN}
                 "${CMAKE_CURRENT_BINARY_DIR}/cli-serve-flow")

# The official openai npm client against the fixture API (tests/node/).
add_test(NAME node.openai_client
         COMMAND "${PROJECT_SOURCE_DIR}/tests/node/openai_client.sh"
                 "$<TARGET_FILE:a4ps_test_api_server>")

# The browser UI in Debian's chromium (playwright-core) against a4ps serve on a copy of the demo
# image: generated models through llama.cpp. A failed run, a stuck thread, a cancelled and
# resumed run, the panels, threads and an unknown run; leaves a screenshot of each state in
# build/tests/ui-browser/screens/.
add_test(NAME node.browser_ui
         COMMAND "${PROJECT_SOURCE_DIR}/tests/node/browser_ui.sh" ${A4PS_BIN}
                 "${CMAKE_CURRENT_BINARY_DIR}/ui-browser")
set_tests_properties(node.browser_ui PROPERTIES FIXTURES_REQUIRED demo_image TIMEOUT 1800)

# SIGTERM to a4ps serve with a run in flight on the demo image's generated models.
add_test(NAME cli.serve_resume
         COMMAND "${CMAKE_CURRENT_SOURCE_DIR}/cli/serve_resume.sh" ${A4PS_BIN}
                 "${CMAKE_CURRENT_BINARY_DIR}/cli-serve-resume")
set_tests_properties(cli.serve_resume PROPERTIES FIXTURES_REQUIRED demo_image TIMEOUT 900)

# The tools commands in the real sandbox: a recorded forge, the registry, rollback, tampering.
add_test(NAME cli.tools_flow
         COMMAND "${CMAKE_CURRENT_SOURCE_DIR}/cli/tools_flow.sh" ${A4PS_BIN}
                 "$<TARGET_FILE:a4ps_test_forge_recording>" "${A4PS_FIXTURES}/tiny.gguf"
                 "${CMAKE_CURRENT_BINARY_DIR}/cli-tools-flow")
set_tests_properties(cli.tools_flow PROPERTIES FIXTURES_REQUIRED cli_fixtures)

# `a4ps sandbox check` and `run` with both runtimes: limits, exit statuses, bad options.
add_test(NAME cli.sandbox_flow
         COMMAND "${CMAKE_CURRENT_SOURCE_DIR}/cli/sandbox_flow.sh" ${A4PS_BIN}
                 "${CMAKE_CURRENT_BINARY_DIR}/cli-sandbox-flow")
