# node-gyp entry point (node-gyp-build's fallback and prebuildify run `node-gyp rebuild`).
# It lists no sources: its one action runs the CMake build (CMakeLists.txt), which writes
# build/Release/chatbert.node, so that both routes produce the same addon.
{
  "targets": [
    {
      "target_name": "chatbert",
      "type": "none",
      "actions": [
        {
          "action_name": "cmake_build",
          "inputs": ["CMakeLists.txt"],
          "outputs": ["<(PRODUCT_DIR)/chatbert.node"],
          "action": ["node", "scripts/build-native.js"]
        }
      ]
    }
  ]
}
