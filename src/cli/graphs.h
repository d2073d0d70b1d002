// cli/graphs: the graphs this build can run, by the name a thread remembers its graph by (so
// that `a4ps resume` can continue any thread), and the image access the graph commands share.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cli/cli_context.h"
#include "graph/checkpointer.h"
#include "graph/runner.h"
#include "image/image.h"

namespace a4ps::cli {

std::vector<std::string> graph_names();
// Throws kNotFound naming the graphs this build has.
graph::CompiledGraph find_graph(const std::string& name);

// The image the options select: --image, $A4PS_IMAGE, or the default.
std::filesystem::path selected_image_dir(const GlobalOptions& options);

// config.toml for commands that work on an image: --config or $A4PS_CONFIG if given, else the
// image's own config.toml.
Config load_image_config(const GlobalOptions& options, const std::filesystem::path& image_dir);

// An image opened for writing (its lock held) with its checkpointer; runs a crash left
// `running` are marked crashed and reported once on stderr, with the command that resumes them.
struct WritableImage {
  std::unique_ptr<Image> image;
  Config config;
  std::unique_ptr<graph::Checkpointer> checkpointer;
};
WritableImage open_image_for_writing(const GlobalOptions& options);

// The image's state.db for reading only: works while another process holds the image.
std::unique_ptr<graph::Checkpointer> open_image_for_reading(const GlobalOptions& options);

// RunOptions from [graph] in config.toml.
graph::RunOptions run_options(const Config& config);

}  // namespace a4ps::cli
