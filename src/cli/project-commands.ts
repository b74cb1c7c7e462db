/** `portcullis projects …`: a project's four keys, and which projects have keys. */
import type { Commands } from './command.js'
import { need } from './options.js'

export const PROJECT_COMMANDS: Commands = {
  async 'projects provision'({ gate, args, print }) {
    const project = await gate.projects.provision(need(args[2], '<projectId>'))
    const created = [
      project.test.secretKey,
      project.test.publishableKey,
      project.live.secretKey,
      project.live.publishableKey,
    ]
    print(
      [
        `project ${project.projectId} provisioned; these keys are shown once:`,
        ...created.map(
          ({ key, record }) => `  ${record.id}  ${record.mode} ${record.type}  ${key}`,
        ),
      ].join('\n'),
      project,
    )
  },

  async 'projects list'({ opened, print }) {
    const projects = await opened.listProjects()
    print(projects.length === 0 ? '(no projects)' : projects.join('\n'), projects)
  },
}
